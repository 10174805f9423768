// --pseudonym-key FILE, shared by filter and verify: the column then holds tokens,
// HMAC-SHA256(key, the 10-digit NHS number) as 64 hex digits. The key file's rules, the token rule
// and every message are the engine's (optout/pseudonym.hpp); the CLI passes the path on.
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace optout::cli {

inline CLI::Option* add_pseudonym_key_option(CLI::App& cmd, std::optional<std::string>& key) {
  return cmd
      .add_option("--pseudonym-key", key,
                  "A pseudonymised extract: the column holds tokens, HMAC-SHA256(key, NHS number) as 64 hex "
                  "digits; the key is this file's bytes, exactly (32 to 1024)")
      ->type_name("FILE");
}

}  // namespace optout::cli
