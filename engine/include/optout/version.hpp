// The library's version, also printed by `optout --version` and written into audit records.
#pragma once

namespace optout {

inline constexpr const char* kVersion = "0.1.0";
inline constexpr int kVersionMajor = 0;
inline constexpr int kVersionMinor = 1;
inline constexpr int kVersionPatch = 0;

}  // namespace optout
