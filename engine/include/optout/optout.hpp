// Everything optout offers, in one include.
#pragma once

#include "optout/nhs_number.hpp"
#include "optout/registry.hpp"
#include "optout/status.hpp"
#include "optout/version.hpp"
