// db::parse_url: postgresql:// and sqlite:// URLs into driver settings, and the errors for malformed ones.

#include <corio/db/error.hpp>
#include <corio/db/url.hpp>

#include <gtest/gtest.h>

#include <string>

using namespace corio;
using namespace std::chrono_literals;

namespace {

/// The ConfigError's message for `url` (the test fails when parse_url accepts it).
std::string config_error(const std::string& url) {
    try {
        (void)db::parse_url(url);
    } catch (const db::ConfigError& e) {
        return e.what();
    }
    ADD_FAILURE() << "parse_url accepted " << url;
    return {};
}

TEST(DbUrl, PostgresUrlGivesEveryPart) {
    auto u = db::parse_url(
        "postgresql://app:s3cret@db.example.com:5433/shop?sslmode=require&application_name=api&connect_timeout=7");
    ASSERT_TRUE(u.pg);
    EXPECT_FALSE(u.sqlite);
    EXPECT_EQ(u.pg->user, "app");
    EXPECT_EQ(u.pg->password, "s3cret");
    EXPECT_EQ(u.pg->host, "db.example.com");
    EXPECT_EQ(u.pg->port, 5433);
    EXPECT_EQ(u.pg->database, "shop");
    EXPECT_EQ(u.pg->sslmode, db::SslMode::require);
    EXPECT_EQ(u.pg->application_name, "api");
    ASSERT_TRUE(u.pg->connect_timeout);
    EXPECT_EQ(*u.pg->connect_timeout, 7s);
    EXPECT_FALSE(u.pg->unix_socket());
    EXPECT_EQ(u.redacted, "postgresql://app:***@db.example.com:5433/shop?sslmode=require&application_name=api&connect_timeout=7");
}

TEST(DbUrl, PostgresDefaultsAreLibpqs) {
    auto u = db::parse_url("postgres://localhost");
    ASSERT_TRUE(u.pg);
    EXPECT_EQ(u.pg->host, "localhost");
    EXPECT_EQ(u.pg->port, 5432);
    EXPECT_TRUE(u.pg->user.empty());
    EXPECT_TRUE(u.pg->password.empty());
    EXPECT_TRUE(u.pg->database.empty());
    EXPECT_EQ(u.pg->sslmode, db::SslMode::prefer);
    EXPECT_FALSE(u.pg->connect_timeout);
    auto bare = db::parse_url("POSTGRESQL://");
    ASSERT_TRUE(bare.pg);
    EXPECT_TRUE(bare.pg->host.empty());
}

TEST(DbUrl, PercentDecodesEveryPart) {
    auto u = db::parse_url("postgresql://us%40er:p%40ss%3Aword%2F@h/my%20db?application_name=a%26b");
    EXPECT_EQ(u.pg->user, "us@er");
    EXPECT_EQ(u.pg->password, "p@ss:word/");
    EXPECT_EQ(u.pg->database, "my db");
    EXPECT_EQ(u.pg->application_name, "a&b");
}

TEST(DbUrl, UnixSocketHostAndIpv6) {
    auto q = db::parse_url("postgresql:///shop?host=/var/run/postgresql&port=5499");
    EXPECT_EQ(q.pg->host, "/var/run/postgresql");
    EXPECT_TRUE(q.pg->unix_socket());
    EXPECT_EQ(q.pg->port, 5499);
    EXPECT_EQ(q.pg->database, "shop");
    auto encoded = db::parse_url("postgresql://%2Ftmp%2Fpg/shop");
    EXPECT_EQ(encoded.pg->host, "/tmp/pg");
    EXPECT_TRUE(encoded.pg->unix_socket());
    auto v6 = db::parse_url("postgresql://u@[::1]:6000/d");
    EXPECT_EQ(v6.pg->host, "::1");
    EXPECT_EQ(v6.pg->port, 6000);
}

TEST(DbUrl, OtherLibpqKeywordsPassThrough) {
    auto u = db::parse_url("postgresql://h/d?options=-c%20search_path%3Dx&target_session_attrs=read-write&user=bob&dbname=other");
    ASSERT_EQ(u.pg->extra.size(), 2u);
    EXPECT_EQ(u.pg->extra[0].first, "options");
    EXPECT_EQ(u.pg->extra[0].second, "-c search_path=x");
    EXPECT_EQ(u.pg->extra[1].first, "target_session_attrs");
    EXPECT_EQ(u.pg->user, "bob");
    EXPECT_EQ(u.pg->database, "other");
    for (auto [text, mode] : {std::pair{"disable", db::SslMode::disable}, {"allow", db::SslMode::allow},
                              {"verify-ca", db::SslMode::verify_ca}, {"verify-full", db::SslMode::verify_full}}) {
        EXPECT_EQ(db::parse_url(std::string("postgresql://h?sslmode=") + text).pg->sslmode, mode);
        EXPECT_EQ(db::to_string(mode), text);
    }
}

TEST(DbUrl, SqliteUrlForms) {
    auto rel = db::parse_url("sqlite:///data/app.db");
    ASSERT_TRUE(rel.sqlite);
    EXPECT_EQ(rel.sqlite->path, "data/app.db");
    EXPECT_FALSE(rel.sqlite->memory);
    EXPECT_EQ(rel.sqlite->mode, db::SqliteMode::read_write_create);
    auto abs = db::parse_url("sqlite:////var/lib/app%20data/app.db?mode=ro&busy_timeout=250");
    EXPECT_EQ(abs.sqlite->path, "/var/lib/app data/app.db");
    EXPECT_EQ(abs.sqlite->mode, db::SqliteMode::read_only);
    ASSERT_TRUE(abs.sqlite->busy_timeout);
    EXPECT_EQ(*abs.sqlite->busy_timeout, 250ms);
    for (const char* memory : {"sqlite://:memory:", "sqlite:///:memory:", "sqlite://", "SQLite://:memory:"}) {
        auto m = db::parse_url(memory);
        ASSERT_TRUE(m.sqlite) << memory;
        EXPECT_TRUE(m.sqlite->memory) << memory;
        EXPECT_TRUE(m.sqlite->path.empty());
    }
    EXPECT_EQ(db::parse_url("sqlite:///x.db?mode=rw").sqlite->mode, db::SqliteMode::read_write);
}

TEST(DbUrl, ErrorsNameThePartThatIsWrong) {
    EXPECT_NE(config_error("mysql://u@h/d").find("unknown scheme \"mysql\""), std::string::npos);
    EXPECT_NE(config_error("localhost/db").find("no scheme"), std::string::npos);
    EXPECT_NE(config_error("postgresql://h:abc/d").find("port \"abc\""), std::string::npos);
    EXPECT_NE(config_error("postgresql://h:0/d").find("port \"0\""), std::string::npos);
    EXPECT_NE(config_error("postgresql://h:70000/d").find("port \"70000\""), std::string::npos);
    EXPECT_NE(config_error("postgresql://h:/d").find("port"), std::string::npos);
    EXPECT_NE(config_error("postgresql://us%zzer@h/d").find("user name"), std::string::npos);
    EXPECT_NE(config_error("postgresql://h/d%2").find("database name"), std::string::npos);
    EXPECT_NE(config_error("postgresql://h/d?colour=blue").find("unknown parameter \"colour\""), std::string::npos);
    EXPECT_NE(config_error("postgresql://h/d?sslmode=always").find("sslmode \"always\""), std::string::npos);
    EXPECT_NE(config_error("postgresql://h/d?connect_timeout=soon").find("connect_timeout"), std::string::npos);
    EXPECT_NE(config_error("postgresql://h/d?sslmode").find("has no value"), std::string::npos);
    EXPECT_NE(config_error("postgresql://a,b/d").find("several hosts"), std::string::npos);
    EXPECT_NE(config_error("postgresql://[::1/d").find("IPv6"), std::string::npos);
    EXPECT_NE(config_error("sqlite://host/app.db").find("no host"), std::string::npos);
    EXPECT_NE(config_error("sqlite:////").find("path is empty"), std::string::npos);
    EXPECT_NE(config_error("sqlite:///x.db?journal=wal").find("unknown parameter \"journal\""), std::string::npos);
    EXPECT_NE(config_error("sqlite:///x.db?mode=rwx").find("mode \"rwx\""), std::string::npos);
    EXPECT_NE(config_error("sqlite://:memory:?mode=ro").find("read-only"), std::string::npos);
    EXPECT_NE(config_error("postgresql://h/d#frag").find("fragment"), std::string::npos);
}

TEST(DbUrl, ErrorsNeverShowThePassword) {
    const std::string secret = "hunter2";
    for (const std::string& url : {
             "postgresql://app:" + secret + "@h:notaport/d",
             "postgresql://app:" + secret + "@h/d?colour=1",
             "postgresql://app:" + secret + "%zz@h/d",      // the bad escape is in the password itself
             "postgresql://h/d?password=" + secret + "&port=x",
             "postgresql://h/d?password=" + secret + "%zz",
             "mysql://root:" + secret + "@h/d",
         }) {
        std::string msg = config_error(url);
        EXPECT_EQ(msg.find(secret), std::string::npos) << msg;
        EXPECT_FALSE(msg.empty());
    }
    try {
        (void)db::parse_url("postgresql://app:" + secret + "@h:x/d");
    } catch (const corio::Error& e) {  // ConfigError is a db::Error is a corio::Error
        EXPECT_NE(std::string(e.what()).find("app:***@h"), std::string::npos) << e.what();
    }
}

TEST(DbUrl, RedactHidesPasswordsInMalformedUrlsToo) {
    EXPECT_EQ(db::redact_url("postgresql://u:pw@h/d"), "postgresql://u:***@h/d");
    EXPECT_EQ(db::redact_url("postgresql://u@h/d"), "postgresql://u@h/d");
    EXPECT_EQ(db::redact_url("postgresql://u:p@w@h/d"), "postgresql://u:***@h/d");
    EXPECT_EQ(db::redact_url("x://u:pw@h?password=pw2&a=1"), "x://u:***@h?password=***&a=1");
    EXPECT_EQ(db::redact_url("postgresql://h/d?sslpassword=k"), "postgresql://h/d?sslpassword=***");
    EXPECT_EQ(db::redact_url("sqlite:///a:b@c.db"), "sqlite:///a:b@c.db");
}

}  // namespace
