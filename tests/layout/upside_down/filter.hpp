#pragma once
#include "optout/io.hpp"
