// Everything optout offers, in one include. The layers, from the bottom up (no header includes
// one above it): status, io, nhs_number, registry, index, filter / numbers / pieces / list_export,
// audit, commit, run, verify.
#pragma once

#include "optout/status.hpp"
#include "optout/io.hpp"
#include "optout/nhs_number.hpp"
#include "optout/registry.hpp"
#include "optout/policy.hpp"
#include "optout/index.hpp"
#include "optout/impact.hpp"
#include "optout/filter.hpp"
#include "optout/numbers.hpp"
#include "optout/pieces.hpp"
#include "optout/list_export.hpp"
#include "optout/pseudonym.hpp"
#include "optout/audit.hpp"
#include "optout/commit.hpp"
#include "optout/run.hpp"
#include "optout/verify.hpp"
#include "optout/version.hpp"
