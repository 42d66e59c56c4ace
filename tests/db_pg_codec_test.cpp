// The PostgreSQL binary codecs, without a server: byte layouts checked against the server's *_send
// functions (hand-computed), round trips, extremes, and type checks on reading.
#include "db/pg/codec.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace corio::db::pg;
using namespace std::chrono;

namespace {

std::string hex(std::string_view b) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    for (unsigned char c : b) {
        s.push_back(digits[c >> 4]);
        s.push_back(digits[c & 15]);
    }
    return s;
}

std::string numeric_round_trip(std::string_view text) {
    std::string b;
    encode_numeric(b, text);
    return decode_numeric(b);
}

}  // namespace

TEST(PgCodec, IntegersAreBigEndianAndRoundTripAtTheirLimits) {
    std::string b;
    encode_int4(b, 0x01020304);
    EXPECT_EQ(hex(b), "01020304");
    for (std::int16_t v : {std::int16_t(0), std::int16_t(-1), std::numeric_limits<std::int16_t>::min(),
                           std::numeric_limits<std::int16_t>::max()}) {
        b.clear();
        encode_int2(b, v);
        EXPECT_EQ(decode_int2(b), v);
    }
    for (std::int32_t v : {0, -1, std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max()}) {
        b.clear();
        encode_int4(b, v);
        EXPECT_EQ(decode_int4(b), v);
    }
    for (std::int64_t v : {std::int64_t(0), std::int64_t(-1), std::numeric_limits<std::int64_t>::min(),
                           std::numeric_limits<std::int64_t>::max()}) {
        b.clear();
        encode_int8(b, v);
        EXPECT_EQ(decode_int8(b), v);
    }
}

TEST(PgCodec, FloatsKeepEveryBitIncludingNanInfinityAndNegativeZero) {
    std::string b;
    encode_float8(b, 1.0);
    EXPECT_EQ(hex(b), "3ff0000000000000");
    for (double v : {0.0, -0.0, 1e308, -1e-308, std::numeric_limits<double>::infinity(),
                     -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::denorm_min()}) {
        b.clear();
        encode_float8(b, v);
        double back = decode_float8(b);
        EXPECT_EQ(std::signbit(back), std::signbit(v));
        EXPECT_EQ(back, v);
    }
    b.clear();
    encode_float8(b, std::nan(""));
    EXPECT_TRUE(std::isnan(decode_float8(b)));
    b.clear();
    encode_float4(b, 3.5f);
    EXPECT_EQ(decode_float4(b), 3.5f);
}

TEST(PgCodec, NumericHasTheServersLayout) {
    std::string b;
    encode_numeric(b, "12345.6789");  // ndigits 3, weight 1, positive, dscale 4: 1 2345 6789
    EXPECT_EQ(hex(b), "0003000100000004" "000109291a85");
    b.clear();
    encode_numeric(b, "-0.001");  // ndigits 1, weight -1, negative, dscale 3: 0010
    EXPECT_EQ(hex(b), "0001ffff40000003" "000a");
    b.clear();
    encode_numeric(b, "0.00");  // zero keeps its scale, no digits
    EXPECT_EQ(hex(b), "0000000000000002");
    b.clear();
    encode_numeric(b, "NaN");
    EXPECT_EQ(hex(b), "00000000c0000000");
}

TEST(PgCodec, NumericRoundTripsThroughText) {
    for (const char* t : {"0", "1", "-1", "12345.6789", "0.0001", "-0.001", "10000", "9999.9999", "0.00",
                          "100000000000000000000000000000.000000000000000001", "-99999999999999999999.5", "NaN",
                          "Infinity", "-Infinity", "3.14159265358979323846264338327950288419716939937510"})
        EXPECT_EQ(numeric_round_trip(t), t) << t;
    EXPECT_EQ(numeric_round_trip("1e5"), "100000");
    EXPECT_EQ(numeric_round_trip("1.5E-3"), "0.0015");
    EXPECT_EQ(numeric_round_trip("+007.50"), "7.50");
    EXPECT_EQ(numeric_round_trip("-0"), "0");
    EXPECT_EQ(numeric_round_trip("nan"), "NaN");
    for (const char* bad : {"", "abc", "1.2.3", "1e", "--1", "1e99999999", "0x10"}) {
        std::string out;
        EXPECT_THROW(encode_numeric(out, bad), CodecError) << bad;
    }
}

TEST(PgCodec, DatesAndTimestampsCountFrom2000AndKeepInfinity) {
    std::string b;
    encode_date(b, sys_days(year(2000) / 1 / 1));
    EXPECT_EQ(hex(b), "00000000");
    b.clear();
    encode_date(b, sys_days(year(1970) / 1 / 1));
    EXPECT_EQ(decode_int4(b), -10957);
    for (sys_days d : {sys_days(year(2024) / 2 / 29), sys_days(year(-4713) / 11 / 24), sys_days(days(2147483493 - 2440588)) /* 5874897-12-31 */,
                       sys_days::max(), sys_days::min()}) {
        b.clear();
        encode_date(b, d);
        EXPECT_EQ(decode_date(b), d);
    }
    b.clear();
    encode_timestamp(b, TimestampTz(microseconds(946684800LL * 1000000LL)));  // 2000-01-01 00:00:00 UTC
    EXPECT_EQ(hex(b), "0000000000000000");
    for (TimestampTz t : {TimestampTz(microseconds(0)), TimestampTz(microseconds(1715000000123456LL)),
                          TimestampTz(microseconds(-210866803200000000LL)), TimestampTz::max(), TimestampTz::min()}) {
        b.clear();
        encode_timestamp(b, t);
        EXPECT_EQ(decode_timestamp(b), t);
    }
}

TEST(PgCodec, UuidsRoundTripThroughBytesAndText) {
    UuidBytes u = parse_uuid("123E4567-e89b-12d3-a456-426614174000");
    EXPECT_EQ(uuid_text(u), "123e4567-e89b-12d3-a456-426614174000");
    EXPECT_EQ(parse_uuid("{123e4567e89b12d3a456426614174000}"), u);
    std::string b;
    encode_uuid(b, u);
    EXPECT_EQ(decode_uuid(b), u);
    EXPECT_THROW((void)parse_uuid("123e4567-e89b-12d3-a456-42661417400"), CodecError);
    EXPECT_THROW((void)parse_uuid("123e4567-e89b-12d3-a456-4266141740000"), CodecError);
    EXPECT_THROW((void)decode_uuid("short"), CodecError);
}

TEST(PgCodec, JsonbCarriesAVersionByte) {
    std::string b;
    encode_jsonb(b, nlohmann::json{{"a", 1}});
    EXPECT_EQ(b, std::string("\x01") + R"({"a":1})");
    EXPECT_EQ(decode_json(oid::jsonb, b), (nlohmann::json{{"a", 1}}));
    EXPECT_EQ(decode_json(oid::json, R"([1, 2])"), nlohmann::json::parse("[1,2]"));
    EXPECT_THROW((void)decode_json(oid::jsonb, std::string("\x02{}")), CodecError);
    EXPECT_THROW((void)decode_json(oid::json, "{"), CodecError);
}

TEST(PgCodec, ArraysAreOneDimensionalWithNulls) {
    Params p;
    p.add(std::vector<std::int32_t>{1, -2, 3});
    ASSERT_EQ(p.size(), 1);
    EXPECT_EQ(p.types()[0], oid::int4_array);
    std::string_view bytes(p.values()[0], static_cast<std::size_t>(p.lengths()[0]));
    EXPECT_EQ(hex(bytes), "00000001" "00000000" "00000017" "00000003" "00000001"
                          "00000004" "00000001" "00000004" "fffffffe" "00000004" "00000003");
    EXPECT_EQ((decode_field<std::vector<std::int32_t>>(oid::int4_array, bytes, false)),
              (std::vector<std::int32_t>{1, -2, 3}));

    Params q;
    q.add(std::vector<std::optional<std::string>>{"a", std::nullopt, ""});
    std::string_view b2(q.values()[0], static_cast<std::size_t>(q.lengths()[0]));
    EXPECT_EQ(q.types()[0], oid::text_array);
    auto back = decode_field<std::vector<std::optional<std::string>>>(oid::text_array, b2, false);
    ASSERT_EQ(back.size(), 3u);
    EXPECT_EQ(back[0], "a");
    EXPECT_FALSE(back[1]);
    EXPECT_EQ(back[2], "");
    EXPECT_THROW((void)decode_field<std::vector<std::string>>(oid::text_array, b2, false), TypeMismatch);

    Params e;
    e.add(std::vector<double>{});
    std::string_view b3(e.values()[0], static_cast<std::size_t>(e.lengths()[0]));
    EXPECT_TRUE((decode_field<std::vector<double>>(oid::float8_array, b3, false).empty()));

    std::string two_dims;
    encode_int4(two_dims, 2);
    encode_int4(two_dims, 0);
    encode_int4(two_dims, static_cast<std::int32_t>(oid::int4));
    for (int i = 0; i < 4; ++i) encode_int4(two_dims, 1);
    encode_int4(two_dims, 4);
    encode_int4(two_dims, 7);
    EXPECT_THROW((void)decode_array(two_dims), CodecError);
    EXPECT_THROW((void)decode_array("\x00\x00"), CodecError);
}

TEST(PgCodec, ReadingChecksTypesWidensIntegersAndRefusesNullWithoutOptional) {
    std::string b;
    encode_int2(b, -7);
    EXPECT_EQ(decode_field<std::int64_t>(oid::int2, b, false), -7);
    EXPECT_EQ(decode_field<std::int32_t>(oid::int2, b, false), -7);
    std::string big;
    encode_int8(big, 1);
    EXPECT_THROW((void)decode_field<std::int32_t>(oid::int8, big, false), TypeMismatch);
    EXPECT_THROW((void)decode_field<std::string>(oid::int8, big, false), TypeMismatch);
    try {
        (void)decode_field<std::int32_t>(oid::int4, {}, true);
        FAIL() << "NULL read into int";
    } catch (const TypeMismatch& e) {
        EXPECT_TRUE(e.null());
        EXPECT_NE(std::string(e.what()).find("std::optional"), std::string::npos);
    }
    EXPECT_EQ(decode_field<std::optional<std::int32_t>>(oid::int4, {}, true), std::nullopt);
    EXPECT_EQ(decode_field<std::string>(oid::int4, "42", false, true), "42");  // text-format results
    std::string n;
    encode_numeric(n, "1.50");
    EXPECT_EQ(decode_field<std::string>(oid::numeric, n, false), "1.50");
    EXPECT_THROW((void)decode_int4("abc"), CodecError);
    EXPECT_EQ(type_name(oid::timestamptz), "timestamptz");
    EXPECT_EQ(type_name(oid::uuid_array), "_uuid");
    EXPECT_EQ(array_of(oid::jsonb), oid::jsonb_array);
    EXPECT_EQ(element_of(oid::int8_array), oid::int8);
}

TEST(PgCodec, ParamsSendStringsAndJsonAsTextOfUnspecifiedTypeAndTheRestBinary) {
    Params p = Params::of(std::string("abc"), 5, true, nlohmann::json{{"k", "v"}}, std::optional<double>{});
    ASSERT_EQ(p.size(), 5);
    EXPECT_EQ(p.types()[0], oid::unspecified);
    EXPECT_EQ(p.formats()[0], 0);
    EXPECT_STREQ(p.values()[0], "abc");  // a C string: libpq reads text parameters up to the NUL
    EXPECT_EQ(p.types()[1], oid::int4);
    EXPECT_EQ(p.formats()[1], 1);
    EXPECT_EQ(p.lengths()[1], 4);
    EXPECT_EQ(p.types()[2], oid::boolean);
    EXPECT_STREQ(p.values()[3], R"({"k":"v"})");
    EXPECT_EQ(p.values()[4], nullptr);
    EXPECT_EQ(p.types()[4], oid::float8);
    EXPECT_THROW(p.add(std::string_view("a\0b", 3)), CodecError);
    Params d;
    d.add(Timestamp(microseconds(0))).add(TimestampTz(microseconds(0)));
    EXPECT_EQ(d.types()[0], oid::timestamp);
    EXPECT_EQ(d.types()[1], oid::timestamptz);
}
