// Policy as data (issue 14, parts 1-3): scope names, list scopes in builds, deltas and snapshots
// (an older reader skips them), purpose selection with exemptions and its errors, references,
// objections files and their deltas, and the audit record of a run by purpose.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "optout/audit.hpp"
#include "optout/index.hpp"
#include "optout/nhs_number.hpp"
#include "optout/policy.hpp"
#include "optout/registry.hpp"
#include "optout/run.hpp"
#include "optout/signing.hpp"
#include "snapshot_format.hpp"
#include "test_support.hpp"

namespace optout {
namespace {

using testing::TempDir;
using Strings = std::vector<std::string>;

// Valid stems (a check digit exists) from start on.
std::vector<std::uint32_t> stems_from(std::uint32_t start, std::size_t n) {
  std::vector<std::uint32_t> out;
  for (std::uint32_t s = start; out.size() < n; ++s) {
    if (is_valid_stem(s)) out.push_back(s);
  }
  return out;
}

std::string number(std::uint32_t stem) { return format_nhs_number(stem, NhsFormat::kPlain); }

// national (research, planning), type1 (unscoped), objections.fdp (fdp), allowed (unscoped allow list).
Registry policy_registry() {
  RegistryBuilder b;
  EXPECT_TRUE(b.add_stems("national", ListKind::kDeny, stems_from(100000000, 3)).ok());
  EXPECT_TRUE(b.add_stems("type1", ListKind::kDeny, stems_from(200000000, 2)).ok());
  EXPECT_TRUE(b.add_stems("objections.fdp", ListKind::kDeny, stems_from(300000000, 1)).ok());
  b.set_scopes("national", {"research", "planning"});
  b.set_scopes("objections.fdp", {"fdp"});
  b.set_as_of("national", 1'795'000'000);
  auto r = b.build(1'796'000'000);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return *r;
}

TEST(ScopeNames, OneToThirtyTwoOfLowerCaseDigitsUnderscoreDash) {
  for (const char* good : {"research", "planning", "fdp", "a", "x_y-z9", "abcdefghijklmnopqrstuvwxyz_01234"}) {
    EXPECT_TRUE(validate_scope_name(good).ok()) << good;
  }
  for (const char* bad : {"", "Research", "re search", "a.b", "é", "abcdefghijklmnopqrstuvwxyz0123456"}) {
    const Status s = validate_scope_name(bad);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.message(), "scope names are 1 to 32 of a-z, 0-9, '_' and '-'") << bad;
  }
  EXPECT_EQ(objections_list_name("fdp"), "objections.fdp");
}

TEST(ScopeNames, ARunOfDigitsThatCouldBeAnNhsNumberIsRefused) {
  for (const char* good : {"y2025", "cohort-12345", "a1b2c3d4e5"}) EXPECT_TRUE(validate_scope_name(good).ok()) << good;
  for (const char* bad : {"9434765919", "943-476-5919", "study123456"}) {
    const Status s = validate_scope_name(bad);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.message(), "a scope name looks like a number (6 or more digits), not a purpose") << bad;
  }
}

TEST(References, RefuseEmptyLongControlAndNhsNumberLike) {
  for (const char* good : {"CAG 20/CAG/0001", "COPI 2020", "ONS", "12345678", "1234 5678", "ref=a=b"}) {
    EXPECT_TRUE(validate_reference(good).ok()) << good;
  }
  EXPECT_TRUE(validate_reference(std::string(200, 'x')).ok());
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "the reference is empty"},
      {std::string(201, 'x'), "the reference is longer than 200 bytes"},
      {"CAG\t1", "the reference holds a control character"},
      {"CAG\n1", "the reference holds a control character"},
      {"\xff", "the reference is not valid UTF-8"},
      {"9434765919", "the reference holds a run of 9 or more digits, which may be an NHS number"},
      {"ref 943 476 5919", "the reference holds a run of 9 or more digits, which may be an NHS number"},
      {"20-1234-5678", "the reference holds a run of 9 or more digits, which may be an NHS number"},
      {"123456789", "the reference holds a run of 9 or more digits, which may be an NHS number"},
  };
  for (const auto& [text, message] : bad) {
    const Status s = validate_reference(text);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << text;
    EXPECT_EQ(s.message(), message) << text;
  }
}

TEST(Exemptions, ParseListEqualsReference) {
  auto e = parse_exemption("national=CAG 20/CAG/0001");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(*e, (Exemption{"national", "CAG 20/CAG/0001"}));
  EXPECT_EQ(parse_exemption("national=a=b")->reference, "a=b");
  EXPECT_EQ(parse_exemption("national").status().message(),
            "--exempt LIST needs a reference: LIST=REFERENCE, e.g. national=CAG 20/CAG/0001");
  EXPECT_EQ(parse_exemption("national=").status().message(), "--exempt national: the reference is empty");
  EXPECT_EQ(parse_exemption("=ref").status().message(), "--exempt: list name is empty");
  EXPECT_EQ(parse_exemption("national=9434765919").status().message(),
            "--exempt national: the reference holds a run of 9 or more digits, which may be an NHS number");
  EXPECT_EQ(parse_exemption("national=9434765919").code(), ErrorCode::kInvalidArgument);
}

TEST(Scopes, BuildStoresThemSortedAndRegistryListsPurposes) {
  const Registry r = policy_registry();
  ASSERT_EQ(r.lists().size(), 3u);
  EXPECT_EQ(r.lists()[0].name, "national");
  EXPECT_EQ(r.lists()[0].scopes, (Strings{"planning", "research"}));
  EXPECT_EQ(r.lists()[1].scopes, (Strings{"fdp"}));
  EXPECT_TRUE(r.lists()[2].scopes.empty());
  EXPECT_EQ(r.purposes(), (Strings{"fdp", "planning", "research"}));
  EXPECT_TRUE(Registry().purposes().empty());
}

TEST(Scopes, BuildRefusesUnknownListsBadNamesAndRepeats) {
  const auto build_with = [](const std::string& list, Strings scopes) {
    RegistryBuilder b;
    EXPECT_TRUE(b.add_stems("national", ListKind::kDeny, stems_from(100000000, 1)).ok());
    b.set_scopes(list, std::move(scopes));
    return b.build(1).status();
  };
  Status s = build_with("nationall", {"research"});
  EXPECT_EQ(s.code(), ErrorCode::kNotFound);
  EXPECT_EQ(s.message(), "scopes for list 'nationall': no list of that name in the registry");
  s = build_with("national", {"Research"});
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "scopes for list 'national': scope names are 1 to 32 of a-z, 0-9, '_' and '-'");
  s = build_with("national", {"research", "planning", "research"});
  EXPECT_EQ(s.message(), "scopes for list 'national': scope 'research' given twice");
  EXPECT_TRUE(build_with("national", {}).ok());  // no scope: every purpose
}

TEST(Scopes, SnapshotRoundTripSignedAndDigestCoversThem) {
  const Registry r = policy_registry();
  auto back = decode_registry(encode_registry(r), "mem");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->lists()[0].scopes, r.lists()[0].scopes);
  EXPECT_EQ(back->purposes(), r.purposes());
  EXPECT_EQ(back->digest(), r.digest());
  EXPECT_EQ(encode_registry(*back), encode_registry(r));

  // The digest covers the scopes: the same lists without them differ.
  RegistryBuilder unscoped(r);
  unscoped.set_scopes("national", {});
  unscoped.set_scopes("objections.fdp", {});
  auto plain = unscoped.build(r.created_at());
  ASSERT_TRUE(plain.ok());
  EXPECT_NE(plain->digest(), r.digest());
  EXPECT_TRUE(plain->purposes().empty());

  // Signed: the signature covers the SCOPES section (before SIGNATURE, the last).
  std::array<std::uint8_t, 32> seed{};
  seed.fill(7);
  auto made = SecretKey::from_seed(seed);
  ASSERT_TRUE(made.ok());
  const SecretKey key = std::move(made).value();
  auto signed_registry = sign_registry(r, key);
  ASSERT_TRUE(signed_registry.ok()) << signed_registry.status().message();
  auto loaded = decode_registry(encode_registry(*signed_registry), "mem");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_TRUE(loaded->signer().has_value());
  EXPECT_EQ(loaded->lists()[0].scopes, (Strings{"planning", "research"}));
  std::string bytes = encode_registry(*signed_registry);
  const std::size_t at = bytes.find("\"planning\"");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 1] = 'q';  // "qlanning": still a scope name, still sorted
  detail::rewrite_trailer(bytes);
  auto changed = decode_registry(bytes, "mem");
  EXPECT_EQ(changed.code(), ErrorCode::kCorruption);
  EXPECT_NE(changed.status().message().find("signature does not verify"), std::string::npos)
      << changed.status().message();
}

std::vector<detail::SnapshotSection> sections_of(const std::string& bytes) {
  const auto read32 = [&](std::size_t at) {
    std::uint32_t v;
    std::memcpy(&v, bytes.data() + at, 4);
    return v;
  };
  const auto read64 = [&](std::size_t at) {
    std::uint64_t v;
    std::memcpy(&v, bytes.data() + at, 8);
    return v;
  };
  std::vector<detail::SnapshotSection> out;
  for (std::uint32_t i = 0; i < read32(32); ++i) {
    const std::size_t entry = 64 + 24 * i;
    out.push_back({read32(entry), read32(entry + 4), bytes.substr(read64(entry + 8), read64(entry + 16))});
  }
  return out;
}

// What a reader older than SCOPES (type 5) does: to it the section is an optional one of an
// unknown type, skipped. Renumbering it to a type this build does not know reproduces that
// reader: the lists load, unscoped, and no purpose is known.
TEST(Scopes, AnOlderReaderSkipsTheScopesSectionAndSeesUnscopedLists) {
  const Registry r = policy_registry();
  auto sections = sections_of(encode_registry(r));
  ASSERT_EQ(sections.back().type, 5u);
  EXPECT_EQ(sections.back().flags, 0u);
  EXPECT_EQ(
      sections.back().payload,
      R"({"lists":[{"name":"national","scopes":["planning","research"]},{"name":"objections.fdp","scopes":["fdp"]}]})");
  sections.back().type = 105;
  auto old = decode_registry(detail::assemble_snapshot(r.created_at(), sections), "mem");
  ASSERT_TRUE(old.ok()) << old.status().message();
  ASSERT_EQ(old->lists().size(), 3u);
  EXPECT_TRUE(old->lists()[0].scopes.empty());
  EXPECT_TRUE(old->purposes().empty());
  EXPECT_EQ(old->stems(0), r.stems(0));
  EXPECT_EQ(old->provenance(), r.provenance());
}

TEST(Scopes, MalformedScopesSectionIsCorrupt) {
  const Registry r = policy_registry();
  const auto with_payload = [&](std::string payload, std::uint32_t flags = 0) {
    auto sections = sections_of(encode_registry(r));
    sections.back().payload = std::move(payload);
    sections.back().flags = flags;
    return decode_registry(detail::assemble_snapshot(r.created_at(), sections), "mem").status();
  };
  const std::string at = "mem: section 5: scopes: ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"nope", "not JSON (or not UTF-8)"},
      {R"({"lists":[]})", "no list entry"},
      {R"({"lists":[{"name":"type2","scopes":["a"]}]})", "an entry for a list the snapshot does not hold"},
      {R"({"lists":[{"name":"national","scopes":[]}]})", "list 'national': no scope"},
      {R"({"lists":[{"name":"national","scopes":["B"]}]})", "list 'national': a scope that is not a scope name"},
      {R"({"lists":[{"name":"national","scopes":["b","a"]}]})",
       "list 'national': scopes not in strictly increasing order"},
      {R"({"lists":[{"name":"type1","scopes":["a"]},{"name":"national","scopes":["a"]}]})",
       "list 'national': list entries not in strictly increasing name order"},
      {R"({"lists":[{"name":"national","scopes":["a"],"x":1}]})", "a list entry does not hold exactly name and scopes"},
      {R"({"lists": [{"name":"national","scopes":["a"]}]})", "not in the canonical form optout writes"},
  };
  for (const auto& [payload, problem] : cases) {
    const Status s = with_payload(payload);
    EXPECT_EQ(s.code(), ErrorCode::kCorruption) << payload;
    EXPECT_EQ(s.message(), at + problem) << payload;
  }
  const Status required = with_payload(R"({"lists":[{"name":"national","scopes":["a"]}]})", 1);
  EXPECT_EQ(required.message(), "mem: section 5: scopes section marked required (it is optional)");
}

TEST(Scopes, ADeltaKeepsItsBasesScopesAndANewScopeReplacesThem) {
  const Registry base = policy_registry();
  RegistryBuilder keep(base);
  ASSERT_TRUE(keep.add_stems("national", ListKind::kDeny, stems_from(110000000, 1)).ok());
  auto kept = keep.build(1'796'100'000);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->lists()[0].scopes, (Strings{"planning", "research"}));
  EXPECT_EQ(kept->lists()[1].scopes, (Strings{"fdp"}));

  RegistryBuilder replace(base);
  replace.set_scopes("national", {"research"});
  auto replaced = replace.build(1'796'100'000);
  ASSERT_TRUE(replaced.ok());
  EXPECT_EQ(replaced->lists()[0].scopes, (Strings{"research"}));
  const std::vector<ListDiff> diff = diff_registries(base, *replaced);
  EXPECT_EQ(diff[0].old_scopes, (Strings{"planning", "research"}));
  EXPECT_EQ(diff[0].new_scopes, (Strings{"research"}));
  EXPECT_EQ(diff[1].old_scopes, diff[1].new_scopes);
}

Strings names(const Result<SelectedLists>& s) { return s.ok() ? s->apply : Strings{"error: " + s.status().message()}; }

TEST(PurposeSelection, ScopedListsOfThePurposePlusEveryUnscopedList) {
  const Registry r = policy_registry();
  EXPECT_EQ(names(select_lists(r, {{}, "research", {}})), (Strings{"national", "type1"}));
  EXPECT_EQ(names(select_lists(r, {{}, "planning", {}})), (Strings{"national", "type1"}));
  EXPECT_EQ(names(select_lists(r, {{}, "fdp", {}})), (Strings{"objections.fdp", "type1"}));
  // Without a purpose: the lists as given (empty: every list), nothing exempted.
  auto by_name = select_lists(r, {{"type1"}, std::nullopt, {}});
  EXPECT_EQ(names(by_name), (Strings{"type1"}));
  EXPECT_FALSE(by_name->purpose.has_value());
  EXPECT_TRUE(names(select_lists(r, {})).empty());
}

TEST(PurposeSelection, AnExemptionLeavesTheListOutAndIsRecorded) {
  const Registry r = policy_registry();
  auto s = select_lists(r, {{}, "planning", {{"national", "CAG 20/CAG/0001"}}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->apply, (Strings{"type1"}));
  EXPECT_EQ(s->purpose, "planning");
  ASSERT_EQ(s->exempted.size(), 1u);
  EXPECT_EQ(s->exempted[0].list, "national");
  EXPECT_EQ(s->exempted[0].kind, ListKind::kDeny);
  EXPECT_EQ(s->exempted[0].count, 3u);
  EXPECT_EQ(s->exempted[0].as_of, 1'795'000'000 - 1'795'000'000 % 86400);
  EXPECT_EQ(s->exempted[0].reference, "CAG 20/CAG/0001");
}

TEST(PurposeSelection, ErrorsAreUsageErrorsWithExactMessages) {
  const Registry r = policy_registry();
  const auto error = [&](const ListSelection& selection) {
    auto s = select_lists(r, selection);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
    return s.status().message();
  };
  EXPECT_EQ(error({{"type1"}, "research", {}}),
            "--purpose and --apply exclude each other: a purpose chooses the lists");
  EXPECT_EQ(error({{}, std::nullopt, {{"national", "CAG 1"}}}),
            "--exempt needs --purpose: an exemption leaves a list out of a purpose's lists");
  EXPECT_EQ(error({{}, "Research", {}}), "--purpose: scope names are 1 to 32 of a-z, 0-9, '_' and '-'");
  EXPECT_EQ(error({{}, "audit", {}}),
            "<built>: no list is scoped to purpose 'audit' (the registry's purposes: fdp, planning, research)");
  EXPECT_EQ(error({{}, "research", {{"objections.fdp", "CAG 1"}}}),
            "--exempt objections.fdp: purpose 'research' does not apply list 'objections.fdp'");
  EXPECT_EQ(error({{}, "research", {{"nope", "CAG 1"}}}),
            "--exempt nope: purpose 'research' does not apply list 'nope'");
  EXPECT_EQ(error({{}, "research", {{"national", "CAG 1"}, {"national", "CAG 2"}}}),
            "--exempt national: the list is exempted twice");
  EXPECT_EQ(error({{}, "research", {{"national", ""}}}), "--exempt national: the reference is empty");
  EXPECT_EQ(error({{}, "research", {{"national", "943 476 5919"}}}),
            "--exempt national: the reference holds a run of 9 or more digits, which may be an NHS number");
  EXPECT_EQ(error({{}, "research", {{"national", "CAG 1"}, {"type1", "COPI"}}}),
            "purpose 'research': every list it applies is exempted, so nothing would be applied");

  RegistryBuilder b;
  ASSERT_TRUE(b.add_stems("type1", ListKind::kDeny, stems_from(200000000, 1)).ok());
  const Registry unscoped = *b.build(1);
  auto none = select_lists(unscoped, {{}, "research", {}});
  EXPECT_EQ(none.status().message(),
            "<built>: no list is scoped to purpose 'research' (the registry names no purpose: give lists scopes "
            "with optout build --scope)");
}

TEST(PurposeSelection, TheIndexKnowsThePurposeAndItsExemptions) {
  const Registry r = policy_registry();
  auto index = OptOutIndex::create(r, ListSelection{{}, "planning", {{"national", "CAG 20/CAG/0001"}}});
  ASSERT_TRUE(index.ok()) << index.status().message();
  EXPECT_EQ(index->applied_lists(), (Strings{"type1"}));
  EXPECT_EQ(index->purpose(), "planning");
  ASSERT_EQ(index->exempted_lists().size(), 1u);
  EXPECT_FALSE(index->removes(stems_from(100000000, 1)[0]));  // national's: exempted
  EXPECT_TRUE(index->removes(stems_from(200000000, 1)[0]));   // type1's
  auto by_name = OptOutIndex::create(r, ListSelection{});
  ASSERT_TRUE(by_name.ok());
  EXPECT_FALSE(by_name->purpose().has_value());
  EXPECT_EQ(by_name->applied_lists().size(), 3u);
}

class PolicyRunTest : public testing::TempDirTest {
 protected:
  std::vector<nlohmann::json> audit_records() const {
    std::vector<nlohmann::json> out;
    std::istringstream lines(read("audit.jsonl"));
    for (std::string line; std::getline(lines, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  }
};

TEST_F(PolicyRunTest, ARunByPurposeRecordsThePurposeAndExemptions) {
  const Registry r = policy_registry();
  std::string extract = "nhs_number\n";
  for (std::uint32_t start : {100000000u, 200000000u, 300000000u, 400000000u})
    extract += number(stems_from(start, 1)[0]) + "\n";
  write("extract.csv", extract);
  FilterRequest request;
  request.inputs = {path("extract.csv")};
  request.output = path("clean.csv");
  request.audit = path("audit.jsonl");
  request.options.column_name = "nhs_number";
  request.purpose = "planning";
  request.exemptions = {{"national", "CAG 20/CAG/0001"}};
  auto ran = run_filter(r, request);
  ASSERT_TRUE(ran.ok()) << ran.status().message();
  EXPECT_EQ(ran->stats.removed, 1u);  // type1's; national's row is kept under the exemption
  EXPECT_EQ(ran->stats.kept, 3u);
  const auto records = audit_records();
  ASSERT_EQ(records.size(), 2u);
  const nlohmann::json& ok = records[1];
  EXPECT_EQ(ok["lists_applied"], nlohmann::json({"type1"}));
  EXPECT_EQ(ok["purpose"], "planning");
  EXPECT_EQ(ok["exemptions"],
            nlohmann::json::parse(R"([{"list":"national","kind":"deny","count":3,"as_of":")" +
                                  iso_date_utc(1'795'000'000) + R"(","reference":"CAG 20/CAG/0001"}])"));
  EXPECT_EQ(records[0]["purpose"], "planning");

  // Without a purpose neither key is written.
  FilterRequest plain = request;
  plain.purpose.reset();
  plain.exemptions.clear();
  plain.output = path("all.csv");
  ASSERT_TRUE(run_filter(r, plain).ok());
  const auto more = audit_records();
  EXPECT_FALSE(more.back().contains("purpose"));
  EXPECT_FALSE(more.back().contains("exemptions"));

  // A purpose with no exemption: an empty list.
  FilterRequest research = plain;
  research.purpose = "research";
  research.output = path("research.csv");
  ASSERT_TRUE(run_filter(r, research).ok());
  EXPECT_EQ(audit_records().back()["exemptions"], nlohmann::json::array());
  EXPECT_EQ(audit_records().back()["lists_applied"], nlohmann::json({"national", "type1"}));

  // A run given an index takes the index's selection.
  auto index = OptOutIndex::create(r, ListSelection{});
  research.output = path("again.csv");
  auto refused = run_filter(*index, research);
  EXPECT_EQ(refused.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(),
            "a run given an index applies the index's lists: leave the request's purpose and exemptions empty");
}

// ---- Objections ---------------------------------------------------------------------------

class ObjectionsTest : public testing::TempDirTest {
 protected:
  Status add(const std::string& text, RegistryBuilder& b, const std::string& name = "objections.csv") {
    write(name, text);
    return b.add_objections(path(name)).status();
  }
  std::string a_ = number(stems_from(500000000, 3)[0]);
  std::string b_ = number(stems_from(500000000, 3)[1]);
  std::string c_ = number(stems_from(500000000, 3)[2]);
};

TEST_F(ObjectionsTest, EachScopeBecomesAScopedDenyList) {
  RegistryBuilder b;
  write("objections.csv", "scope,decided,nhs_number,reference\r\nfdp,2026-01-05," + a_ + ",ART21-0042\r\nfdp,," + b_ +
                              ",\r\n\"research\",2026-02-01,\"" + c_ + "\",\"case \"\"7\"\"\"\r\n");
  auto stats = b.add_objections(path("objections.csv"));
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(stats->rows, 3u);
  ASSERT_EQ(stats->lists.size(), 2u);
  EXPECT_EQ(stats->lists[0].list, "objections.fdp");
  EXPECT_EQ(stats->lists[0].stats.changed, 2u);
  EXPECT_EQ(stats->lists[1].list, "objections.research");
  auto r = b.build(1);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->lists().size(), 2u);
  EXPECT_EQ(r->lists()[0].kind, ListKind::kDeny);
  EXPECT_EQ(r->lists()[0].scopes, (Strings{"fdp"}));
  EXPECT_EQ(r->lists()[0].count, 2u);
  EXPECT_EQ(r->lists()[1].scopes, (Strings{"research"}));
  const ListProvenance* p = r->provenance_of("objections.fdp");
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->sources.size(), 1u);
  EXPECT_EQ(p->sources[0].file, "objections.csv");
  EXPECT_EQ(p->sources[0].lines, 3u);
  EXPECT_EQ(p->sources[0].numbers, 2u);
  EXPECT_EQ(r->provenance_of("objections.research")->sources[0].numbers, 1u);
}

TEST_F(ObjectionsTest, InvalidRowsStopTheBuildNamingFileAndLineNeverTheValue) {
  const std::string bad_digit = a_.substr(0, 9) + std::to_string((a_[9] - '0' + 1) % 10);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "objections.csv: empty: an objections file starts with the header nhs_number,scope"},
      {"nhs_number\n",
       "objections.csv:1: the header must name nhs_number and scope (and may name reference and decided)"},
      {"nhs_number,scope,notes\n",
       "objections.csv:1: column 3 is not one of nhs_number, scope, reference, decided (the header takes no other "
       "column)"},
      {"nhs_number,scope,scope\n", "objections.csv:1: column 'scope' named twice"},
      {"nhs_number,scope\n" + a_ + ",fdp\n" + bad_digit + ",fdp\n", "objections.csv:3: nhs_number: wrong check digit"},
      {"nhs_number,scope\n,fdp\n", "objections.csv:2: nhs_number: empty"},
      {"nhs_number,scope\n" + a_ + ",FDP\n",
       "objections.csv:2: scope: scope names are 1 to 32 of a-z, 0-9, '_' and '-'"},
      {"nhs_number,scope\n" + a_ + "\n", "objections.csv:2: 1 field, the header has 2"},
      {"nhs_number,scope\n" + a_ + ",fdp,x\n", "objections.csv:2: 3 fields, the header has 2"},
      {"nhs_number,scope\n" + a_ + ",fdp\n\n", "objections.csv:3: 1 field, the header has 2"},
      {"nhs_number,scope,reference\n" + a_ + ",fdp," + b_ + "\n",
       "objections.csv:2: reference: the reference holds a run of 9 or more digits, which may be an NHS number"},
      {"nhs_number,scope,reference\n" + a_ + ",fdp," + std::string(201, 'r') + "\n",
       "objections.csv:2: reference: the reference is longer than 200 bytes"},
      {"nhs_number,scope,decided\n" + a_ + ",fdp,2026-02-30\n",
       "objections.csv:2: decided: not a date of the form YYYY-MM-DD"},
      {"nhs_number,scope,decided\n" + a_ + ",fdp,5/1/2026\n",
       "objections.csv:2: decided: not a date of the form YYYY-MM-DD"},
      {"nhs_number,scope\n\"" + a_ + ",fdp\n", "objections.csv:2: a quoted field is not closed"},
      {"nhs_number,scope\n" + a_ + "\"x,fdp\n", "objections.csv:2: a quote inside an unquoted field"},
      {"nhs_number,scope\n\"" + a_ + "\"x,fdp\n", "objections.csv:2: text after a closing quote"},
      {"nhs_number,scope\r" + a_ + ",fdp\n", "objections.csv:1: bare CR (lines must end with LF or CRLF)"},
  };
  for (const auto& [text, message] : cases) {
    RegistryBuilder b;
    const Status s = add(text, b);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidInput) << text;
    EXPECT_EQ(s.message(), path("objections.csv").substr(0, path("objections.csv").size() - 14) + message) << text;
    for (const std::string& n : {a_, b_, bad_digit}) EXPECT_EQ(s.message().find(n), std::string::npos);
    EXPECT_TRUE(b.build(1)->lists().empty()) << text;  // nothing was added
  }
}

TEST_F(ObjectionsTest, DeltasAddRemoveAndWithdraw) {
  RegistryBuilder first;
  ASSERT_TRUE(add("nhs_number,scope\n" + a_ + ",fdp\n" + b_ + ",fdp\n", first).ok());
  const Registry base = *first.build(1);
  EXPECT_EQ(base.lists()[0].count, 2u);

  // A delta: more objections, then a withdrawn one.
  RegistryBuilder delta(base);
  ASSERT_TRUE(add("nhs_number,scope\n" + c_ + ",fdp\n", delta, "more.csv").ok());
  write("withdrawn.csv", "nhs_number,scope,reference\n" + a_ + ",fdp,withdrawn 2026-03\n");
  auto withdrawn = delta.remove_objections(path("withdrawn.csv"));
  ASSERT_TRUE(withdrawn.ok()) << withdrawn.status().message();
  EXPECT_EQ(withdrawn->lists[0].stats.changed, 1u);
  const Registry next = *delta.build(2);
  EXPECT_EQ(next.lists()[0].count, 2u);
  EXPECT_EQ(next.lists()[0].scopes, (Strings{"fdp"}));
  EXPECT_FALSE(next.contains(0, stems_from(500000000, 3)[0]));
  EXPECT_TRUE(next.contains(0, stems_from(500000000, 3)[2]));
  const ListProvenance* p = next.provenance_of("objections.fdp");
  ASSERT_EQ(p->sources.size(), 3u);
  EXPECT_TRUE(p->sources[2].removal);
  EXPECT_EQ(p->sources[2].file, "withdrawn.csv");

  // A plain number source withdraws from the list as from any other (--remove objections.fdp=F).
  RegistryBuilder again(next);
  write("gone.txt", c_ + "\n");
  ASSERT_TRUE(again.remove_source("objections.fdp", path("gone.txt")).ok());
  EXPECT_EQ(again.build(3)->lists()[0].count, 1u);

  // Withdrawing from a scope that has no list.
  RegistryBuilder none(base);
  write("other.csv", "nhs_number,scope\n" + a_ + ",research\n");
  auto missing = none.remove_objections(path("other.csv"));
  EXPECT_EQ(missing.code(), ErrorCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "no list 'objections.research' to withdraw from");
}

TEST_F(ObjectionsTest, AnExistingAllowListOfTheNameIsRefusedAndExplicitScopesWin) {
  RegistryBuilder b;
  ASSERT_TRUE(b.add_stems("objections.fdp", ListKind::kAllow, stems_from(500000000, 1)).ok());
  const Status s = add("nhs_number,scope\n" + a_ + ",fdp\n", b);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "list 'objections.fdp' is an allow list, not a deny list");

  RegistryBuilder c;
  ASSERT_TRUE(add("nhs_number,scope\n" + a_ + ",fdp\n", c).ok());
  c.set_scopes("objections.fdp", {"fdp", "research"});
  EXPECT_EQ(c.build(1)->lists()[0].scopes, (Strings{"fdp", "research"}));
}

}  // namespace
}  // namespace optout
