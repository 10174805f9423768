// A low header that includes a higher one: check_header_layers.py must refuse it.
#pragma once
#include "optout/filter.hpp"
