// optout keygen: a new Ed25519 key pair for signing registries (build --sign) and audit records.
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "cli_options.hpp"
#include "commands.hpp"
#include "diagnostics.hpp"
#include "optout/signing.hpp"

namespace optout::cli {
namespace {

// The --help description.
constexpr const char* kHelp = R"(Make a new key pair for signing registries: NAME.key and NAME.pub.
NAME.key is the secret key (mode 0600): keep it where builds run, never share it.
NAME.pub is the public key: give it to whoever loads the registries, for --trust or
OPTOUT_TRUST. Neither file is ever overwritten. Prints the key id, the short name by
which snapshots, audit records and messages name the key.)";

struct KeygenArgs {
  std::string name;
};

int run_keygen(const KeygenArgs& args) {
  const Diagnostics diag("keygen");
  Result<PublicKey> key = write_key_pair(args.name);
  if (!key.ok()) return diag.fail(key.status());
  std::cout << "key id:      " << key->key_id() << '\n'
            << "secret key:  " << secret_key_path(args.name).string() << '\n'
            << "public key:  " << public_key_path(args.name).string() << '\n';
  return kExitSuccess;
}

void declare_keygen(CLI::App& cmd, KeygenArgs& args) {
  cmd.add_option("-o,--output", args.name, "Write NAME.key and NAME.pub")->type_name("NAME")->required();
}

}  // namespace

Command add_keygen_command(CLI::App& root) { return add_command(root, "keygen", kHelp, declare_keygen, run_keygen); }

}  // namespace optout::cli
