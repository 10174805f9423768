// Everything optout offers, in one include.
#pragma once

#include "optout/audit.hpp"
#include "optout/filter.hpp"
#include "optout/filter_job.hpp"
#include "optout/io.hpp"
#include "optout/list_export.hpp"
#include "optout/nhs_number.hpp"
#include "optout/pieces.hpp"
#include "optout/registry.hpp"
#include "optout/status.hpp"
#include "optout/version.hpp"
