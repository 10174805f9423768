#include "optout/nhs_number.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

namespace optout {
namespace {

struct Vector {
  bool valid;
  std::string text;
  std::string note;
};

// ../shared/nhs_test_vectors.txt format: "<valid|invalid> |<text>|<note>".
std::vector<Vector> read_vectors() {
  std::ifstream in(std::string(OPTOUT_TEST_DATA_DIR) + "/nhs_test_vectors.txt");
  std::vector<Vector> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto first = line.find('|');
    const auto second = line.find('|', first + 1);
    out.push_back({line.rfind("valid", 0) == 0, line.substr(first + 1, second - first - 1), line.substr(second + 1)});
  }
  return out;
}

TEST(NhsNumberTest, PublicVectors) {
  const auto vectors = read_vectors();
  ASSERT_EQ(vectors.size(), 29u);
  for (const auto& v : vectors) {
    EXPECT_EQ(parse_nhs_number(v.text).valid(), v.valid) << "'" << v.text << "' (" << v.note << ")";
  }
}

struct Case {
  std::string text;
  std::uint32_t stem;
  InvalidReason reason;
};

TEST(NhsNumberTest, ExactStemsAndReasons) {
  const std::vector<Case> cases = {
      {"9434765919", 943476591, InvalidReason::kNone},
      {"943 476 5919", 943476591, InvalidReason::kNone},
      {"943-476-5919", 943476591, InvalidReason::kNone},
      {" \t9434765919\r\n", 943476591, InvalidReason::kNone},
      {"0000000000", 0, InvalidReason::kAllZeros},  // passes modulus 11, but is no patient's
      {"000 000 0000", 0, InvalidReason::kAllZeros},
      {"000-000-0000", 0, InvalidReason::kAllZeros},
      {" 0000000000\r\n", 0, InvalidReason::kAllZeros},
      {"0000000001", 0, InvalidReason::kWrongCheckDigit},
      {"0000000019", 1, InvalidReason::kNone},  // as text the ten digits are explicit
      {"9999999999", 999999999, InvalidReason::kNone},
      {"9876543210", 987654321, InvalidReason::kNone},
      {"0101011113", 10101111, InvalidReason::kNone},
      {"3462950622", 346295062, InvalidReason::kNone},
      {"", 0, InvalidReason::kEmpty},
      {"   ", 0, InvalidReason::kEmpty},
      {"\r\n", 0, InvalidReason::kEmpty},
      {"94347A5919", 0, InvalidReason::kBadCharacter},
      {"+943476591", 0, InvalidReason::kBadCharacter},
      {"9434765919.0", 0, InvalidReason::kBadCharacter},
      {"9.434765919E9", 0, InvalidReason::kBadCharacter},
      {"943\xd9\xa3"
       "476591",
       0, InvalidReason::kBadCharacter},  // Arabic-Indic digit three
      {"943_476_5919", 0, InvalidReason::kBadCharacter},
      {"943476591", 0, InvalidReason::kWrongLength},
      {"94347659190", 0, InvalidReason::kWrongLength},
      {"943 476 591", 0, InvalidReason::kWrongLength},
      {"-", 0, InvalidReason::kWrongLength},
      {"943 4765919", 0, InvalidReason::kBadShape},
      {"943  476 5919", 0, InvalidReason::kBadShape},
      {"943-476 5919", 0, InvalidReason::kBadShape},
      {"9434 76 5919", 0, InvalidReason::kBadShape},
      {"943 476 591 9", 0, InvalidReason::kBadShape},
      {"-943476-5919", 0, InvalidReason::kBadShape},
      {"1234567890", 0, InvalidReason::kCheckDigitTen},
      {"0000000060", 0, InvalidReason::kCheckDigitTen},
      {"9434765918", 0, InvalidReason::kWrongCheckDigit},
      {"4865447041", 0, InvalidReason::kWrongCheckDigit},
      {"9000543664", 0, InvalidReason::kWrongCheckDigit},
  };
  for (const auto& c : cases) {
    const ParsedNhsNumber p = parse_nhs_number(c.text);
    EXPECT_EQ(p.reason, c.reason) << "'" << c.text << "': " << invalid_reason_text(p.reason);
    EXPECT_EQ(p.stem, c.stem) << "'" << c.text << "'";
  }
}

TEST(NhsNumberTest, CheckDigitAgreesWithParseForEveryStemInASample) {
  // Every 9973rd stem (a prime stride) across the whole range, boundaries included.
  for (std::uint64_t s = 0; s < kStemLimit; s += (s == 999999998 ? 1 : 9973)) {
    const auto stem = static_cast<std::uint32_t>(s);
    const std::uint8_t check = check_digit(stem);
    ASSERT_LE(check, 10);
    if (stem == 0) {  // 0000000000: check digit 0, and still no valid number
      EXPECT_EQ(check, 0);
      EXPECT_FALSE(is_valid_stem(stem));
      continue;
    }
    if (check == kNoCheckDigit) {
      EXPECT_FALSE(is_valid_stem(stem));
      continue;
    }
    ASSERT_TRUE(is_valid_stem(stem));
    for (auto fmt : {NhsFormat::kPlain, NhsFormat::kSpaced, NhsFormat::kDashed}) {
      const std::string text = format_nhs_number(stem, fmt);
      const ParsedNhsNumber p = parse_nhs_number(text);
      ASSERT_TRUE(p.valid()) << text;
      ASSERT_EQ(p.stem, stem) << text;
    }
    // Every other final digit is a wrong check digit.
    std::string text = format_nhs_number(stem);
    text[9] = static_cast<char>('0' + (check + 1) % 10);
    ASSERT_EQ(parse_nhs_number(text).reason, InvalidReason::kWrongCheckDigit) << text;
  }
}

TEST(NhsNumberTest, FormatsEachShape) {
  EXPECT_EQ(format_nhs_number(943476591), "9434765919");
  EXPECT_EQ(format_nhs_number(943476591, NhsFormat::kSpaced), "943 476 5919");
  EXPECT_EQ(format_nhs_number(943476591, NhsFormat::kDashed), "943-476-5919");
  EXPECT_EQ(format_nhs_number(999999999), "9999999999");
  EXPECT_EQ(format_nhs_number(10101111, NhsFormat::kSpaced), "010 101 1113");
  EXPECT_EQ(nhs_number_value(943476591), 9434765919u);
}

TEST(NhsNumberTest, FromInteger) {
  EXPECT_EQ(nhs_number_from_integer(9434765919u), (ParsedNhsNumber{943476591, InvalidReason::kNone}));
  EXPECT_EQ(nhs_number_from_integer(101011113u), (ParsedNhsNumber{10101111, InvalidReason::kNone}));
  EXPECT_EQ(nhs_number_from_integer(9434765918u).reason, InvalidReason::kWrongCheckDigit);
  EXPECT_EQ(nhs_number_from_integer(9434765918u).reason, InvalidReason::kWrongCheckDigit);
  EXPECT_EQ(nhs_number_from_integer(1234567890u).reason, InvalidReason::kCheckDigitTen);
  EXPECT_EQ(nhs_number_from_integer(10000000000u).reason, InvalidReason::kWrongLength);
  EXPECT_EQ(nhs_number_from_integer(UINT64_MAX).reason, InvalidReason::kWrongLength);
}

TEST(NhsNumberTest, EveryReasonHasText) {
  EXPECT_STREQ(invalid_reason_text(InvalidReason::kNone), "valid");
  EXPECT_STREQ(invalid_reason_text(InvalidReason::kEmpty), "empty");
  EXPECT_STREQ(invalid_reason_text(InvalidReason::kBadCharacter), "bad character");
  EXPECT_STREQ(invalid_reason_text(InvalidReason::kWrongLength), "wrong length");
  EXPECT_STREQ(invalid_reason_text(InvalidReason::kBadShape), "bad shape");
  EXPECT_STREQ(invalid_reason_text(InvalidReason::kCheckDigitTen), "check digit 10");
  EXPECT_STREQ(invalid_reason_text(InvalidReason::kWrongCheckDigit), "wrong check digit");
  EXPECT_STREQ(invalid_reason_text(InvalidReason::kAllZeros), "all zeros");
  EXPECT_EQ(kLastInvalidReason, InvalidReason::kAllZeros);
  EXPECT_STREQ(invalid_reason_text(static_cast<InvalidReason>(8)), "unknown");
}

// Issue 10.3: an integer has at most one implied leading zero (a CHI number's). 19 is not
// 0000000019, and 0 (a fillna(0), a zero-filled column) is the all-zero number, not a patient.
TEST(NhsNumberTest, IntegersBelowNineDigitsAndZeroAreRejected) {
  struct IntegerCase {
    std::uint64_t value;
    InvalidReason reason;
  };
  const IntegerCase cases[] = {
      {0, InvalidReason::kAllZeros},
      {19, InvalidReason::kWrongLength},  // 0000000019 would pass modulus 11
      {27, InvalidReason::kWrongLength},  // 0000000027 likewise
      {1, InvalidReason::kWrongLength},
      {99'999'999, InvalidReason::kWrongLength},
      {100'000'000, InvalidReason::kWrongCheckDigit},  // 0100000000: 9 digits, the zero implied
      {101'011'113, InvalidReason::kNone},             // 0101011113, a CHI-style number
      {999'999'999, InvalidReason::kWrongCheckDigit},
      {9'999'999'999, InvalidReason::kNone},
      {10'000'000'000, InvalidReason::kWrongLength},
  };
  for (const IntegerCase& c : cases) {
    const ParsedNhsNumber p = nhs_number_from_integer(c.value);
    EXPECT_EQ(p.reason, c.reason) << c.value << ": " << invalid_reason_text(p.reason);
    if (!p.valid()) EXPECT_EQ(p.stem, 0u) << c.value;
  }
  // Zero-padded, 19 and 27 would pass modulus 11: as text with its ten digits it is a number.
  EXPECT_TRUE(parse_nhs_number("0000000019").valid());
  EXPECT_TRUE(parse_nhs_number("0000000027").valid());
}

TEST(NhsNumberTest, AllZeroStemIsNotValid) {
  EXPECT_FALSE(is_valid_stem(0));
  EXPECT_EQ(check_digit(0), 0);
  EXPECT_TRUE(is_valid_stem(10101111));
}

}  // namespace
}  // namespace optout
