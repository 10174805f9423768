#include "extract.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <string_view>

#include "optout/nhs_number.hpp"
#include "random.hpp"

namespace optout::gen {
namespace {

// Rows per chunk: about 1 MB of text either way, small enough to stay in L2/L3 per worker and
// large enough that the ordered hand-off costs nothing. Part of the output format: the random
// choices of a row depend on its chunk, so changing these changes every file.
constexpr std::uint64_t kNarrowRowsPerChunk = 16384;
constexpr std::uint64_t kWideRowsPerChunk = 1024;

constexpr std::int32_t kFirstAdmission = 18262;  // 2020-01-01
constexpr std::int32_t kAdmissionDays = 1827;    // .. 2024-12-31

constexpr std::string_view kBom = "\xEF\xBB\xBF";

// ---- text ---------------------------------------------------------------------------------------

void append_uint(std::string& out, std::uint64_t v) {
  char buf[20];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  out.append(buf, end);
}

void append_padded(std::string& out, std::uint64_t v, int width) {
  char buf[20];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out.append(buf, static_cast<std::size_t>(width));
}

struct CivilDate {
  int year;
  unsigned month;
  unsigned day;
};

// Days since 1970-01-01 to a Gregorian date (H. Hinnant's civil_from_days).
CivilDate civil_from_days(std::int32_t days) {
  const int z = days + 719468;
  const int era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<int>(yoe) + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

// Writes "YYYY-MM-DD" (10 bytes, years 0..9999).
void format_date(char* out, std::int32_t days) {
  const CivilDate c = civil_from_days(days);
  const auto year = static_cast<unsigned>(c.year);
  const unsigned parts[8] = {year / 1000,  year / 100 % 10, year / 10 % 10, year % 10,
                             c.month / 10, c.month % 10,    c.day / 10,     c.day % 10};
  const char text[10] = {static_cast<char>('0' + parts[0]),
                         static_cast<char>('0' + parts[1]),
                         static_cast<char>('0' + parts[2]),
                         static_cast<char>('0' + parts[3]),
                         '-',
                         static_cast<char>('0' + parts[4]),
                         static_cast<char>('0' + parts[5]),
                         '-',
                         static_cast<char>('0' + parts[6]),
                         static_cast<char>('0' + parts[7])};
  std::copy(text, text + 10, out);
}

// Every date the extracts use (births from 1925, elective waits before 2020, submissions into
// 2025), formatted once: converting and printing each date was a fifth of the narrow row's cost.
class DateTable {
 public:
  static constexpr std::int32_t kFirst = -16436 - 366;  // 1924-01-01
  static constexpr std::int32_t kLast = 20088 + 366;    // 2025-12-31
  DateTable() : text_(static_cast<std::size_t>(kLast - kFirst + 1) * 10) {
    for (std::int32_t d = kFirst; d <= kLast; ++d) format_date(&text_[static_cast<std::size_t>(d - kFirst) * 10], d);
  }
  // 10 bytes, or nullptr outside the table.
  const char* find(std::int32_t days) const {
    return days >= kFirst && days <= kLast ? &text_[static_cast<std::size_t>(days - kFirst) * 10] : nullptr;
  }

 private:
  std::vector<char> text_;
};

void append_date(std::string& out, std::int32_t days) {
  static const DateTable table;
  if (const char* text = table.find(days)) return static_cast<void>(out.append(text, 10));
  char buf[10];
  format_date(buf, days);
  out.append(buf, 10);
}

// SQL Server's datetime text ("2022-05-25 00:00:00.000"), as episode dates arrive in many
// extracts exported from trust warehouses.
void append_datetime(std::string& out, std::int32_t days) {
  append_date(out, days);
  out.append(" 00:00:00.000");
}

int age_at(std::int32_t birth_day, std::int32_t day) {
  const CivilDate b = civil_from_days(birth_day);
  const CivilDate d = civil_from_days(day);
  int age = d.year - b.year;
  if (d.month < b.month || (d.month == b.month && d.day < b.day)) --age;
  return age;
}

// One record under construction. Every field call appends the field and a delimiter; end()
// replaces the last delimiter with the record ending.
class Record {
 public:
  Record(std::string& out, char delimiter) : out_(out), delimiter_(delimiter) {}

  std::string& raw() { return out_; }
  void next() { out_.push_back(delimiter_); }

  void empty() { next(); }
  void text(std::string_view s) {
    out_.append(s);
    next();
  }
  void number(std::uint64_t v) {
    append_uint(out_, v);
    next();
  }
  void padded(std::uint64_t v, int width) {
    append_padded(out_, v, width);
    next();
  }
  void date(std::int32_t days) {
    append_date(out_, days);
    next();
  }
  void datetime(std::int32_t days) {
    append_datetime(out_, days);
    next();
  }
  // A field that may need quotes (delimiter, quote, CR or LF inside); force to quote anyway.
  void quoted_if_needed(std::string_view s, bool force = false) {
    bool needs = force;
    for (const char c : s) needs |= c == '"' || c == '\r' || c == '\n' || c == delimiter_;
    if (!needs) return text(s);
    out_.push_back('"');
    for (char c : s) {
      if (c == '"') out_.push_back('"');
      out_.push_back(c);
    }
    out_.push_back('"');
    next();
  }
  void end(std::string_view ending) {
    out_.pop_back();
    out_.append(ending);
  }

 private:
  std::string& out_;
  char delimiter_;
};

template <typename T, std::size_t N>
const T& pick(Rng& rng, const std::array<T, N>& table) {
  return table[rng.below(N)];
}

// ---- codes --------------------------------------------------------------------------------------

constexpr std::string_view kIcdLetters = "ABCDEFGHIJKLMNOPQRSTVWXYZ";  // ICD-10 chapters, no U
constexpr std::string_view kOpcsLetters = "ABCDEFGHJKLMNOPQRSTUVWX";   // OPCS-4 chapters A–X, no I

// "J18", "J189" or "J18.9" (parts 3, 4 or dotted) of one code drawn from rng.
struct Code {
  char letter;
  unsigned two;   // 0..99
  unsigned last;  // 0..9
};

Code icd10(Rng& rng) {
  return {kIcdLetters[rng.below(kIcdLetters.size())], static_cast<unsigned>(rng.below(100)),
          static_cast<unsigned>(rng.below(10))};
}

Code opcs4(Rng& rng) {
  return {kOpcsLetters[rng.below(kOpcsLetters.size())], static_cast<unsigned>(rng.below(100)),
          static_cast<unsigned>(1 + rng.below(9))};
}

void append_code(std::string& out, const Code& c, int form) {  // form 3, 4 or 5 (dotted)
  out.push_back(c.letter);
  append_padded(out, c.two, 2);
  if (form == 5) out.push_back('.');
  if (form >= 4) out.push_back(static_cast<char>('0' + c.last));
}

// ---- the NHS number field ------------------------------------------------------------------------

enum class NhsMess {
  kPlain,         // 9434765919
  kSpaced,        // 943 476 5919
  kDashed,        // 943-476-5919
  kWrongCheck,    // 9434765918
  kMissing,       // (empty field)
  kNineDigits,    // 943476591
  kQuoted,        // "9434765919"
  kPadded,        // ' 9434765919 ' unquoted (RFC 4180: spaces belong to the field)
  kQuotedPadded,  // " 9434765919 "
  kDotted,        // 943.476.5919
  kPlaceholder,   // UNKNOWN, N/A, 9999999999
};

// Per-mille thresholds of dirty mode: ~13% of rows have a messy NHS number field.
struct MessRate {
  NhsMess mess;
  unsigned per_mille;
};
constexpr std::array<MessRate, 10> kNhsMessRates = {{
    {NhsMess::kSpaced, 20},
    {NhsMess::kDashed, 20},
    {NhsMess::kWrongCheck, 15},
    {NhsMess::kMissing, 15},
    {NhsMess::kNineDigits, 10},
    {NhsMess::kQuoted, 20},
    {NhsMess::kPadded, 10},
    {NhsMess::kQuotedPadded, 10},
    {NhsMess::kDotted, 5},
    {NhsMess::kPlaceholder, 5},
}};

NhsMess pick_mess(Rng& rng) {
  auto roll = static_cast<unsigned>(rng.below(1000));
  for (const MessRate& r : kNhsMessRates) {
    if (roll < r.per_mille) return r.mess;
    roll -= r.per_mille;
  }
  return NhsMess::kPlain;
}

// The plain 10-digit number between before and after: "9434765919", " 9434765919 ", ...
void append_between(std::string& out, std::string_view before, std::uint32_t stem, std::string_view after) {
  char digits[kMaxFormattedBytes];
  out.append(before);
  out.append(digits, format_nhs_number(stem, digits));
  out.append(after);
}

void nhs_field(Record& record, std::uint32_t stem, bool dirty, Rng& rng) {
  std::string& out = record.raw();
  char digits[kMaxFormattedBytes];
  const NhsMess mess = dirty ? pick_mess(rng) : NhsMess::kPlain;
  switch (mess) {
    case NhsMess::kPlain: out.append(digits, format_nhs_number(stem, digits)); break;
    case NhsMess::kSpaced: out.append(digits, format_nhs_number(stem, digits, NhsFormat::kSpaced)); break;
    case NhsMess::kDashed: out.append(digits, format_nhs_number(stem, digits, NhsFormat::kDashed)); break;
    case NhsMess::kWrongCheck: {
      format_nhs_number(stem, digits);
      const auto right = static_cast<unsigned>(digits[9] - '0');
      digits[9] = static_cast<char>('0' + (right + 1 + rng.below(9)) % 10);
      out.append(digits, 10);
      break;
    }
    case NhsMess::kMissing: break;
    case NhsMess::kNineDigits: out.append(digits, format_nhs_number(stem, digits) - 1); break;
    case NhsMess::kQuoted: append_between(out, "\"", stem, "\""); break;
    case NhsMess::kPadded: append_between(out, " ", stem, " "); break;
    case NhsMess::kQuotedPadded: append_between(out, "\" ", stem, " \""); break;
    case NhsMess::kDotted: {
      const std::size_t n = format_nhs_number(stem, digits, NhsFormat::kDashed);
      std::replace(digits, digits + n, '-', '.');
      out.append(digits, n);
      break;
    }
    case NhsMess::kPlaceholder: {
      constexpr std::array<std::string_view, 3> kPlaceholders = {"UNKNOWN", "N/A", "9999999999"};
      out.append(pick(rng, kPlaceholders));
      break;
    }
  }
  record.next();
}

// ---- free text ------------------------------------------------------------------------------------

constexpr std::array<std::string_view, 18> kCleanNotes = {
    "patient reports improvement since last visit",
    "discussed treatment options with family",
    "blood pressure stable, continue current medication",
    "wound healing well; dressing changed",
    "routine follow-up",
    "seen in clinic",
    "discharged home",
    "transferred from A&E",
    "awaiting test results",
    "referred by GP, urgent",
    "admitted via ED, observed overnight",
    "procedure postponed, patient unwell",
    "interpreter required",
    "DNA previous appointment",
    "pain score 4/10; analgesia given",
    "bed 12, ward 7B",
    "no complications",
    "review in 6 weeks",
};

// Dirty mode only: doubled quotes, line breaks and non-ASCII text inside quoted fields.
constexpr std::array<std::string_view, 3> kQuoteNotes = {
    "patient said \"no\" to letters",
    "\"high risk\" flag, review",
    "allergy: \"penicillin\"",
};
constexpr std::array<std::string_view, 2> kLfNotes = {
    "first visit\nfollow-up booked",
    "seen by nurse\nbloods taken, sent to lab",
};
constexpr std::array<std::string_view, 2> kCrlfNotes = {
    "seen by registrar\r\ndischarged",
    "letter to GP\r\ncopy to patient, by post",
};
constexpr std::array<std::string_view, 2> kUtf8Notes = {
    "seen by Dr Zoë Ng",
    "café-au-lait macules noted",
};

void notes_field(Record& record, bool dirty, Rng& rng) {
  const auto roll = static_cast<unsigned>(rng.below(100));
  if (!dirty) {
    if (roll < 40) return record.empty();
    return record.quoted_if_needed(pick(rng, kCleanNotes));
  }
  if (roll < 50) return record.empty();
  if (roll < 55) return record.quoted_if_needed(pick(rng, kQuoteNotes));
  if (roll < 57) return record.quoted_if_needed(pick(rng, kLfNotes));
  if (roll < 59) return record.quoted_if_needed(pick(rng, kCrlfNotes));
  if (roll < 60) return record.quoted_if_needed(pick(rng, kUtf8Notes));
  return record.quoted_if_needed(pick(rng, kCleanNotes));
}

// ---- rows -----------------------------------------------------------------------------------------

struct RowContext {
  const Population& population;
  const ExtractOptions& options;
  std::uint64_t patients;
  double share;
  std::string_view ending;        // the usual record ending
  std::string_view other_ending;  // dirty mode's minority ending
};

std::uint64_t pick_patient(const RowContext& ctx, Rng& rng) {
  const bool national = rng.chance(ctx.share);
  for (;;) {  // terminates: write_extract() checked that a patient of each needed kind exists
    const std::uint64_t k = rng.below(ctx.patients);
    if (ctx.population.national(k) == national) return k;
  }
}

void end_row(Record& record, const RowContext& ctx, std::uint64_t row, Rng& rng) {
  if (!ctx.options.dirty) return record.end(ctx.ending);
  const bool other = rng.chance(0.1);
  if (row + 1 == ctx.options.rows) return record.end("");  // dirty: no final newline
  record.end(other ? ctx.other_ending : ctx.ending);
}

void narrow_row(std::string& out, const RowContext& ctx, std::uint64_t row, Rng& rng) {
  const bool dirty = ctx.options.dirty;
  const std::uint64_t patient = pick_patient(ctx, rng);
  const PatientTraits traits = ctx.population.traits(patient);
  Record r(out, ctx.options.delimiter);
  r.number(row + 1);
  nhs_field(r, ctx.population.stem(patient), dirty, rng);
  r.date(traits.birth_day);
  r.text(std::string_view(&traits.sex, 1));
  r.quoted_if_needed(postcode_district(traits.postcode), dirty && rng.chance(0.01));
  r.date(kFirstAdmission + static_cast<std::int32_t>(rng.below(kAdmissionDays)));
  append_code(out, icd10(rng), 5);
  r.next();
  if (rng.chance(0.7)) append_code(out, opcs4(rng), 5);
  r.next();
  notes_field(r, dirty, rng);
  end_row(r, ctx, row, rng);
}

constexpr int kDiagSlots = 20;
constexpr int kOperSlots = 24;

constexpr std::array<std::string_view, 30> kTrusts = {
    "RXH", "RTH", "RJ1", "RYJ", "RRK", "RTD", "R0A", "RX1", "RHM", "RWE", "RR8", "RJE", "RGT", "RM1", "RAL",
    "RJZ", "RF4", "RBS", "RKB", "RWA", "RVJ", "RA7", "RTE", "RK9", "RH8", "RNS", "REF", "RDE", "RCB", "RWD"};
constexpr std::array<std::string_view, 20> kSpecialties = {"100", "101", "110", "120", "130", "160", "300",
                                                           "301", "320", "330", "340", "400", "410", "420",
                                                           "430", "500", "501", "502", "800", "810"};
constexpr std::array<std::string_view, 11> kAdmissionMethods = {"11", "12", "13", "21", "22", "23",
                                                                "24", "28", "31", "32", "81"};
constexpr std::array<std::string_view, 9> kAdmissionSources = {"19", "29", "51", "52", "54", "65", "66", "79", "87"};
constexpr std::array<std::string_view, 5> kDischargeDestinations = {"19", "29", "51", "54", "79"};
constexpr std::array<std::string_view, 18> kEthnicities = {"A", "B", "C", "D", "E", "F", "G", "H", "J",
                                                           "K", "L", "M", "N", "P", "R", "S", "Z", "99"};
constexpr std::array<std::string_view, 10> kImdDeciles = {
    "Most deprived 10%",    "More deprived 10-20%", "More deprived 20-30%", "More deprived 30-40%",
    "More deprived 40-50%", "Less deprived 40-50%", "Less deprived 30-40%", "Less deprived 20-30%",
    "Less deprived 10-20%", "Least deprived 10%"};
constexpr std::array<std::string_view, 7> kRuralUrban = {"A1", "B1", "C1", "C2", "D1", "E1", "F1"};

// Per-patient facts of the wide extract, each from its own salt of Population::patient_hash.
enum PatientSalt : std::uint64_t { kGp, kArea, kHesId1, kHesId2, kMisc, kToken1, kToken2, kToken3, kToken4 };

void letters(std::string& out, std::uint64_t h, int n) {
  for (int i = 0; i < n; ++i, h /= 26) out.push_back(static_cast<char>('A' + h % 26));
}

void hex(std::string& out, std::uint64_t h) {
  constexpr std::string_view kHex = "0123456789abcdef";
  for (int i = 0; i < 16; ++i, h >>= 4) out.push_back(kHex[h & 15]);
}

void wide_row(std::string& out, const RowContext& ctx, std::uint64_t row, Rng& rng) {
  const bool dirty = ctx.options.dirty;
  const Population& pop = ctx.population;
  const std::uint64_t patient = pick_patient(ctx, rng);
  const PatientTraits traits = pop.traits(patient);
  const std::uint64_t gp = pop.patient_hash(patient, kGp);
  const std::uint64_t area = pop.patient_hash(patient, kArea);
  const std::uint64_t misc = pop.patient_hash(patient, kMisc);

  const std::string_view trust = pick(rng, kTrusts);
  const auto admitted = kFirstAdmission + static_cast<std::int32_t>(rng.below(kAdmissionDays));
  const auto stay = static_cast<std::int32_t>(rng.chance(0.4) ? 0 : 1 + rng.below(14));
  const std::int32_t discharged = admitted + stay;
  const std::string_view method = pick(rng, kAdmissionMethods);
  const bool elective = method[0] == '1';
  const auto waited = static_cast<std::int32_t>(1 + rng.below(180));
  const int age = std::max(0, age_at(traits.birth_day, admitted));
  const auto diagnoses = static_cast<int>(1 + rng.below(kDiagSlots));
  const auto operations = static_cast<int>(rng.below(13));
  const CivilDate admitted_civil = civil_from_days(admitted);
  const int fy_start = admitted_civil.month >= 4 ? admitted_civil.year : admitted_civil.year - 1;

  Record r(out, ctx.options.delimiter);
  // Episode and provider.
  r.number(300'000'000'000ULL + row + 1);                        // EPIKEY
  append_padded(out, static_cast<unsigned>(fy_start % 100), 2);  // FYEAR
  append_padded(out, static_cast<unsigned>((fy_start + 1) % 100), 2);
  r.next();
  append_padded(out, static_cast<unsigned>(admitted_civil.year), 4);  // PARTYEAR
  append_padded(out, admitted_civil.month, 2);
  r.next();
  r.text(trust);  // PROCODE3
  out.append(trust);
  r.padded(1 + rng.below(3), 2);  // PROCODET
  out.append(trust);
  r.padded(1 + rng.below(9), 2);  // SITETRET
  out.append(trust);
  r.text("01");                                                       // PROCODE5
  r.datetime(discharged + static_cast<std::int32_t>(rng.below(30)));  // SUBDATE
  r.padded(rng.below(100'000'000'000'000ULL), 14);                    // SUSRECID
  r.padded(rng.below(1'000'000'000'000ULL), 12);                      // SUSSPELLID
  out.append(trust);
  r.padded(rng.below(1'000'000'000ULL), 9);    // PROVSPNOPS
  r.datetime(admitted);                        // EPISTART
  r.datetime(discharged);                      // EPIEND
  r.padded(1 + rng.below(3), 2);               // EPIORDER
  r.text("3");                                 // EPISTAT
  r.text("1");                                 // EPITYPE
  r.number(static_cast<std::uint64_t>(stay));  // EPIDUR
  r.number(rng.below(3));                      // SPELBGIN
  r.text("Y");                                 // SPELEND
  r.number(static_cast<std::uint64_t>(stay));  // SPELDUR
  // Admission and discharge.
  r.datetime(admitted);                  // ADMIDATE
  r.text(method);                        // ADMIMETH
  r.text(pick(rng, kAdmissionSources));  // ADMISORC
  r.text("01");                          // ADMINCAT
  r.text("01");                          // ADMINCATST
  if (elective) {
    r.datetime(admitted - waited);                 // ELECDATE
    r.number(static_cast<std::uint64_t>(waited));  // ELECDUR
  } else {
    r.empty();
    r.empty();
  }
  r.text(stay == 0 && elective ? "2" : "1");  // CLASSPAT
  const std::string_view specialty = pick(rng, kSpecialties);
  r.text(specialty);  // MAINSPEF
  r.text(specialty);  // TRETSPEF
  out.push_back('C');
  r.padded(rng.below(10'000'000), 7);         // CONSULT
  r.text(stay == 0 ? "2" : "1");              // INTMANIG
  r.datetime(discharged);                     // DISDATE
  r.number(1 + rng.below(5));                 // DISMETH
  r.text(pick(rng, kDischargeDestinations));  // DISDEST
  if (rng.chance(0.2)) {
    r.datetime(discharged);  // DISREADYDATE
  } else {
    r.empty();
  }
  r.number(static_cast<std::uint64_t>(age));                        // STARTAGE
  r.number(static_cast<std::uint64_t>(age));                        // ENDAGE
  r.text(traits.sex == 'M' ? "1" : traits.sex == 'F' ? "2" : "9");  // SEX
  r.text(kEthnicities[misc % kEthnicities.size()]);                 // ETHNOS
  // Diagnoses: DIAG_3_01..20 then DIAG_4_01..20.
  std::array<Code, kDiagSlots> diag{};
  for (int i = 0; i < diagnoses; ++i) diag[static_cast<std::size_t>(i)] = icd10(rng);
  for (int form = 3; form <= 4; ++form) {
    for (int i = 0; i < kDiagSlots; ++i) {
      if (i < diagnoses) append_code(out, diag[static_cast<std::size_t>(i)], form);
      r.next();
    }
  }
  r.number(static_cast<std::uint64_t>(diagnoses));  // DIAG_COUNT
  if (rng.chance(0.1)) {                            // CAUSE_4
    out.push_back(static_cast<char>('V' + rng.below(4)));
    append_padded(out, rng.below(100), 2);
    out.push_back('X');
  }
  r.next();
  std::string hrg;  // HRG, SUSHRG: "FZ91M"
  letters(hrg, rng.next(), 2);
  append_padded(hrg, rng.below(100), 2);
  hrg.push_back(static_cast<char>('A' + rng.below(26)));
  r.text(hrg);
  r.text(hrg);
  r.text("HRG4+ 2022/23 Local Payment Grouper");  // SUSHRGVERS
  letters(out, gp, 1);                            // GPPRAC
  r.padded((gp >> 8) % 100'000, 5);
  append_padded(out, (area >> 40) % 100, 2);  // CCG_RESPONSIBILITY
  letters(out, area >> 48, 1);
  r.next();
  append_padded(out, rng.below(100), 2);  // CCG_TREATMENT
  letters(out, rng.next(), 1);
  r.next();
  out.push_back('Q');  // ICB
  letters(out, gp >> 32, 2);
  r.next();
  out.append("E0");  // RESLADST
  r.padded(6'000'000 + (area >> 8) % 4'000'000, 7);
  // The identifier, in the middle as in real extracts.
  nhs_field(r, pop.stem(patient), dirty, rng);
  // Patient.
  r.date(traits.birth_day);  // DOB
  const CivilDate birth = civil_from_days(traits.birth_day);
  append_padded(out, birth.month, 2);  // MYDOB
  r.padded(static_cast<unsigned>(birth.year), 4);
  r.quoted_if_needed(postcode_district(traits.postcode), dirty && rng.chance(0.01));  // HOMEADD
  out.append("E01");                                                                  // LSOA11
  r.padded(area % 1'000'000, 6);
  out.append("E02");  // MSOA11
  r.padded((area >> 20) % 10'000, 6);
  r.text(kImdDeciles[(misc >> 8) % kImdDeciles.size()]);   // IMD04_DECILE
  r.text(kRuralUrban[(misc >> 16) % kRuralUrban.size()]);  // RURURB_IND
  hex(out, pop.patient_hash(patient, kHesId1));            // PSEUDO_HESID
  hex(out, pop.patient_hash(patient, kHesId2));
  r.next();
  hex(out, pop.patient_hash(patient, kToken1));  // TOKEN_PERSON_ID
  hex(out, pop.patient_hash(patient, kToken2));
  hex(out, pop.patient_hash(patient, kToken3));
  hex(out, pop.patient_hash(patient, kToken4));
  r.next();
  r.number(1 + (misc >> 24) % 9);  // MARSTAT
  // Operations: OPERTN_3_01..24, OPERTN_4_01..24, OPDATE_01..24 ("-" in slot 1 when none).
  std::array<Code, kOperSlots> oper{};
  std::array<std::int32_t, kOperSlots> oper_day{};
  for (int i = 0; i < operations; ++i) {
    oper[static_cast<std::size_t>(i)] = opcs4(rng);
    oper_day[static_cast<std::size_t>(i)] =
        admitted + static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(stay) + 1));
  }
  for (int form = 3; form <= 4; ++form) {
    for (int i = 0; i < kOperSlots; ++i) {
      if (i < operations) {
        append_code(out, oper[static_cast<std::size_t>(i)], form);
      } else if (i == 0) {
        out.push_back('-');
      }
      r.next();
    }
  }
  for (int i = 0; i < kOperSlots; ++i) {
    if (i < operations) append_datetime(out, oper_day[static_cast<std::size_t>(i)]);
    r.next();
  }
  // Derived fields.
  r.number(static_cast<std::uint64_t>(operations));  // OPERTN_COUNT
  if (operations > 0) {
    r.number(static_cast<std::uint64_t>(discharged - oper_day[0]));  // POSOPDUR
    r.number(static_cast<std::uint64_t>(oper_day[0] - admitted));    // PREOPDUR
  } else {
    r.empty();
    r.empty();
  }
  r.number(static_cast<std::uint64_t>(stay));  // BEDYEAR
  r.text("NHS006");                            // CDSVERSION
  r.text("130");                               // CDSTYPE
  if (operations > 0) {
    append_code(out, oper[0], 4);  // DOMPROC
  } else {
    out.push_back('-');
  }
  r.next();
  r.text("1");                                // FAE
  r.text("1");                                // FCE
  r.text(elective ? "0" : "1");               // FAE_EMERG
  r.number(static_cast<std::uint64_t>(age));  // ACTIVAGE
  r.number(static_cast<std::uint64_t>(age));  // ADMIAGE
  r.empty();                                  // ALCDIAG
  r.text("0.0000");                           // ALCFRAC
  out.append("E01");                          // LSOA21
  r.padded((area >> 4) % 1'000'000, 6);
  out.append("E02");  // MSOA21
  r.padded((area >> 24) % 10'000, 6);
  if (elective) {
    r.number(static_cast<std::uint64_t>(waited));  // WAITDAYS
  } else {
    r.empty();
  }
  notes_field(r, dirty, rng);  // notes
  end_row(r, ctx, row, rng);
}

std::vector<std::string> wide_columns() {
  std::vector<std::string> c = {
      "EPIKEY",     "FYEAR",      "PARTYEAR",   "PROCODE3",     "PROCODET", "SITETRET", "PROCODE5", "SUBDATE",
      "SUSRECID",   "SUSSPELLID", "PROVSPNOPS", "EPISTART",     "EPIEND",   "EPIORDER", "EPISTAT",  "EPITYPE",
      "EPIDUR",     "SPELBGIN",   "SPELEND",    "SPELDUR",      "ADMIDATE", "ADMIMETH", "ADMISORC", "ADMINCAT",
      "ADMINCATST", "ELECDATE",   "ELECDUR",    "CLASSPAT",     "MAINSPEF", "TRETSPEF", "CONSULT",  "INTMANIG",
      "DISDATE",    "DISMETH",    "DISDEST",    "DISREADYDATE", "STARTAGE", "ENDAGE",   "SEX",      "ETHNOS"};
  char name[16];
  for (const char* prefix : {"DIAG_3_", "DIAG_4_"}) {
    for (int i = 1; i <= kDiagSlots; ++i) {
      std::snprintf(name, sizeof name, "%s%02d", prefix, i);
      c.emplace_back(name);
    }
  }
  for (const char* n : {"DIAG_COUNT",
                        "CAUSE_4",
                        "HRG",
                        "SUSHRG",
                        "SUSHRGVERS",
                        "GPPRAC",
                        "CCG_RESPONSIBILITY",
                        "CCG_TREATMENT",
                        "ICB",
                        "RESLADST",
                        "nhs_number",
                        "DOB",
                        "MYDOB",
                        "HOMEADD",
                        "LSOA11",
                        "MSOA11",
                        "IMD04_DECILE",
                        "RURURB_IND",
                        "PSEUDO_HESID",
                        "TOKEN_PERSON_ID",
                        "MARSTAT"}) {
    c.emplace_back(n);
  }
  for (const char* prefix : {"OPERTN_3_", "OPERTN_4_", "OPDATE_"}) {
    for (int i = 1; i <= kOperSlots; ++i) {
      std::snprintf(name, sizeof name, "%s%02d", prefix, i);
      c.emplace_back(name);
    }
  }
  for (const char* n :
       {"OPERTN_COUNT", "POSOPDUR", "PREOPDUR", "BEDYEAR", "CDSVERSION", "CDSTYPE", "DOMPROC", "FAE", "FCE",
        "FAE_EMERG", "ACTIVAGE", "ADMIAGE", "ALCDIAG", "ALCFRAC", "LSOA21", "MSOA21", "WAITDAYS", "notes"}) {
    c.emplace_back(n);
  }
  return c;
}

// True when some patient in [0, patients) has national() == national. Stops at the first one.
bool has_patient(const Population& population, std::uint64_t patients, bool national) {
  for (std::uint64_t k = 0; k < patients; ++k) {
    if (population.national(k) == national) return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> extract_columns(Width width) {
  if (width == Width::kWide) return wide_columns();
  return {"record_id",      "nhs_number",      "date_of_birth",  "sex",  "postcode_district",
          "admission_date", "diagnosis_icd10", "procedure_opcs", "notes"};
}

Status write_extract(const Population& population, const ExtractOptions& options, ByteSink& out,
                     std::size_t max_in_flight) {
  const double share = options.optout_share.value_or(population.options().national_rate);
  if (!(share >= 0.0 && share <= 1.0)) {
    return Status(ErrorCode::kInvalidArgument, "--optout-share must be between 0 and 1");
  }
  const std::uint64_t patients = options.patients.value_or(population.size());
  if (patients == 0 || patients > population.size()) {
    return Status(ErrorCode::kInvalidArgument, "--patients must be between 1 and the population");
  }
  if (options.rows > 0 && share > 0.0 && !has_patient(population, patients, true)) {
    return Status(ErrorCode::kInvalidArgument,
                  "no patient among the first " + std::to_string(patients) +
                      " has a national opt-out; raise --patients or --national-rate, or set --optout-share 0");
  }
  if (options.rows > 0 && share < 1.0 && !has_patient(population, patients, false)) {
    return Status(ErrorCode::kInvalidArgument,
                  "every patient among the first " + std::to_string(patients) +
                      " has a national opt-out; lower --national-rate or set --optout-share 1");
  }
  if (options.delimiter == '"' || options.delimiter == '\r' || options.delimiter == '\n') {
    return Status(ErrorCode::kInvalidArgument, "the delimiter cannot be a quote or a line break");
  }

  const RowContext ctx{
      population, options, patients, share, options.crlf ? "\r\n" : "\n", options.crlf ? "\n" : "\r\n"};
  const bool wide = options.width == Width::kWide;
  const std::uint64_t rows_per_chunk = wide ? kWideRowsPerChunk : kNarrowRowsPerChunk;
  const std::uint64_t key = stream_key(population.options().seed, Stream::kExtractRows);

  std::string header(options.dirty ? kBom : std::string_view());
  for (const std::string& name : extract_columns(options.width)) {
    header += name;
    header += options.delimiter;
  }
  header.pop_back();
  header += ctx.ending;
  Status status = write_bytes(out, header);
  if (!status.ok()) return status;

  OrderedChunks job;
  job.chunk_count = (options.rows + rows_per_chunk - 1) / rows_per_chunk;
  job.generate = [&](std::uint64_t chunk, std::string& bytes) {
    Rng rng(key, chunk);
    const std::uint64_t first = chunk * rows_per_chunk;
    const std::uint64_t last = std::min(options.rows, first + rows_per_chunk);
    bytes.reserve((last - first) * (wide ? 1100 : 90));
    for (std::uint64_t row = first; row < last; ++row) {
      if (wide) {
        wide_row(bytes, ctx, row, rng);
      } else {
        narrow_row(bytes, ctx, row, rng);
      }
    }
  };
  job.consume = [&](std::uint64_t, std::string_view bytes, bool&) { return write_bytes(out, bytes); };
  return run_ordered(job, max_in_flight);
}

}  // namespace optout::gen
