// Uses the installed library: parse an NHS number, build a registry in memory, query it, and
// round-trip it through the snapshot encoding. Exit 0 when every check holds.
#include <cstdio>
#include <cstdint>
#include <string>
#include <vector>

#include <optout/optout.hpp>

namespace {

int failures = 0;

void expect(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "consumer: failed: %s\n", what);
    ++failures;
  }
}

}  // namespace

int main() {
  const optout::ParsedNhsNumber parsed = optout::parse_nhs_number("943 476 5919");
  expect(parsed.valid(), "943 476 5919 parses");
  expect(parsed.stem == 943476591, "its stem is 943476591");
  expect(optout::parse_nhs_number("9434765918").reason == optout::InvalidReason::kWrongCheckDigit,
         "a wrong check digit is reported");

  optout::RegistryBuilder builder;
  builder.set_description("consumer");
  auto text = builder.add_text("national", optout::ListKind::kDeny, "9434765919\n4000000632,\r\n\n", "<consumer>");
  expect(text.ok(), "add_text succeeds");
  if (text.ok()) {
    expect(text->numbers == 2 && text->blank == 1, "add_text counts 2 numbers and 1 blank line");
  }
  const std::vector<std::uint32_t> allowed = {parsed.stem};
  expect(builder.add_stems("cleared", optout::ListKind::kAllow, allowed).ok(), "add_stems succeeds");

  auto built = builder.build(1'700'000'000);
  expect(built.ok(), "build succeeds");
  if (!built.ok()) return 1;
  const optout::Registry& registry = *built;
  expect(registry.lists().size() == 2, "two lists");
  const auto national = registry.find_list("national");
  expect(national.has_value(), "national is found");
  if (national) {
    expect(registry.contains(*national, parsed.stem), "national holds 9434765919");
    expect(!registry.contains(*national, 123456789), "national lacks another stem");
  }
  expect(registry.created_at() == 1'700'000'000, "created_at is kept");

  auto decoded = optout::decode_registry(optout::encode_registry(registry), "<memory>");
  expect(decoded.ok(), "the snapshot encoding decodes");
  if (decoded.ok()) expect(decoded->digest() == registry.digest(), "the digest survives a round trip");

  std::printf("optout %s: %s\n", optout::kVersion, failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
