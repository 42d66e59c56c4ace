#include <corio/corio.hpp>
#include <corio/net/tls.hpp>

#include "support/test_support.hpp"
#include "support/tls_certs.hpp"

#include <gtest/gtest.h>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <array>
#include <memory>
#include <optional>
#include <string>

using namespace std::chrono_literals;
using corio::Task;
using corio::net::TcpListener;
using corio::net::TcpStream;
using corio::net::TlsContext;
using corio::net::TlsError;
using corio::net::TlsStream;

namespace {

std::span<std::byte> bytes(std::string& s) { return std::as_writable_bytes(std::span<char>(s.data(), s.size())); }

/// Reads until the peer's close_notify.
Task<std::string> read_to_end(TlsStream& tls) {
    std::string out;
    std::array<std::byte, 8192> buf;
    for (;;) {
        std::size_t n = co_await tls.read(buf);
        if (n == 0) co_return out;
        out.append(reinterpret_cast<const char*>(buf.data()), n);
    }
}

Task<std::string> read_n(TlsStream& tls, std::size_t n) {
    std::string s(n, '\0');
    co_await tls.read_exact(bytes(s));
    co_return s;
}

/// What each side of one connection saw.
struct Outcome {
    std::string client_error;
    long client_verify = 0;
    std::string server_error;
    std::string client_alpn = "(none)";
    std::string server_alpn = "(none)";
    std::string client_saw_subject;
    std::string server_saw_subject;
    std::string server_got;  // what the client sent, once the handshake succeeded
    std::string client_got;  // the server's answer
};

/// One connection over 127.0.0.1: on success the server sends "pong" and close_notify, then the client sends
/// "ping" and close_notify. (The server speaks first, so that a side that fails the handshake has read
/// everything the other sent, and its close is a FIN that lets the other read its alert, not a reset.)
Outcome connect_once(TlsContext server_ctx, TlsContext client_ctx, std::string server_name) {
    Outcome o;
    auto body = [&]() -> Task<void> {
        auto listener = TcpListener::bind("127.0.0.1:0");
        auto address = listener.local_address();
        auto server = [&]() -> Task<void> {
            try {
                TlsStream tls = co_await TlsStream::accept(co_await listener.accept(), server_ctx);
                o.server_alpn = tls.alpn_protocol();
                o.server_saw_subject = tls.peer_certificate_subject();
                co_await tls.write_all("pong");
                co_await tls.shutdown();
                o.server_got = co_await read_to_end(tls);
            } catch (const std::exception& e) {
                o.server_error = e.what();
            }
        };
        auto client = [&]() -> Task<void> {
            try {
                TlsStream tls = co_await TlsStream::connect(co_await TcpStream::connect(address), client_ctx, server_name);
                o.client_alpn = tls.alpn_protocol();
                o.client_saw_subject = tls.peer_certificate_subject();
                o.client_got = co_await read_to_end(tls);
                co_await tls.write_all("ping");
                co_await tls.shutdown();
            } catch (const std::exception& e) {
                o.client_error = e.what();
                if (auto* t = dynamic_cast<const TlsError*>(&e)) o.client_verify = t->verify_result();
            }
        };
        co_await corio::gather(server(), client());
    };
    corio_test::run_bounded(body());
    return o;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

class Tls : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        pki = new corio_test::TestPki();
        good = pki->issue("good", {.common_name = "localhost", .alt_names = {"DNS:localhost", "IP:127.0.0.1"}});
        expired = pki->issue("expired", {.common_name = "localhost",
                                         .alt_names = {"DNS:localhost", "IP:127.0.0.1"},
                                         .not_before = -2 * 24 * 3600,
                                         .not_after = -24 * 3600});
        other_host = pki->issue("other", {.common_name = "other.test", .alt_names = {"DNS:other.test"}});
        self_signed = pki->self_signed("self", {.common_name = "localhost", .alt_names = {"DNS:localhost"}});
        client_id = pki->issue("client", {.common_name = "corio test client"});
    }
    static void TearDownTestSuite() {
        delete pki;
        pki = nullptr;
    }
    static TlsContext server_with(const corio_test::TlsIdentity& id, std::vector<std::string> alpn = {}) {
        return TlsContext::server({.cert_file = id.cert, .key_file = id.key, .alpn = std::move(alpn)});
    }
    static TlsContext trusting_client(std::vector<std::string> alpn = {}) {
        return TlsContext::client({.ca_file = pki->ca_file(), .alpn = std::move(alpn)});
    }

    static inline corio_test::TestPki* pki = nullptr;
    static inline corio_test::TlsIdentity good, expired, other_host, self_signed, client_id;
};

TEST_F(Tls, ACertificateFromTheTrustedCaIsAcceptedAndDataFlowsBothWays) {
    Outcome o = connect_once(server_with(good), trusting_client(), "localhost");
    EXPECT_EQ(o.client_error, "");
    EXPECT_EQ(o.server_error, "");
    EXPECT_EQ(o.server_got, "ping");
    EXPECT_EQ(o.client_got, "pong");
    EXPECT_EQ(o.client_saw_subject, "CN=localhost");
    EXPECT_EQ(o.server_saw_subject, "");  // no client certificate asked for
}

TEST_F(Tls, SeveralMebibytesEchoIntactWithAReaderAndAWriterOnOneStream) {
    auto server_ctx = server_with(good);
    auto client_ctx = trusting_client();
    std::string data(6 << 20, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 % 251);
    std::string echoed;
    corio::net::TlsStatistics stats;
    auto body = [&]() -> Task<void> {
        auto listener = TcpListener::bind("127.0.0.1:0");
        auto address = listener.local_address();
        auto server = [&]() -> Task<void> {
            TlsStream tls = co_await TlsStream::accept(co_await listener.accept(), server_ctx);
            std::array<std::byte, 16384> buf;
            for (;;) {
                std::size_t n = co_await tls.read(buf);
                if (n == 0) break;
                co_await tls.write_all(std::span<const std::byte>(buf.data(), n));
            }
            co_await tls.shutdown();
        };
        auto client = [&]() -> Task<void> {
            TlsStream tls = co_await TlsStream::connect(co_await TcpStream::connect(address), client_ctx, "localhost");
            auto writer = [&]() -> Task<void> {
                co_await tls.write_all(data);
                co_await tls.shutdown();
            };
            auto [_, got] = co_await corio::gather(writer(), read_to_end(tls));
            echoed = std::move(got);
            stats = tls.statistics();
        };
        co_await corio::gather(server(), client());
    };
    corio_test::run_bounded(body());
    EXPECT_EQ(echoed.size(), data.size());
    EXPECT_TRUE(echoed == data);
    EXPECT_EQ(stats.bytes_written, data.size());
    EXPECT_EQ(stats.bytes_read, data.size());
    EXPECT_GT(stats.raw_bytes_sent, data.size());
    EXPECT_GT(stats.raw_bytes_received, data.size());
}

TEST_F(Tls, AlpnPicksTheServersFirstProtocolThatTheClientOffers) {
    Outcome o = connect_once(server_with(good, {"http/1.1"}), trusting_client({"h2", "http/1.1"}), "localhost");
    EXPECT_EQ(o.client_error, "");
    EXPECT_EQ(o.client_alpn, "http/1.1");
    EXPECT_EQ(o.server_alpn, "http/1.1");

    o = connect_once(server_with(good, {"h2", "http/1.1"}), trusting_client({"http/1.1", "h2"}), "localhost");
    EXPECT_EQ(o.client_alpn, "h2");
    EXPECT_EQ(o.server_alpn, "h2");
}

TEST_F(Tls, AlpnWithNoProtocolInCommonGoesOnWithoutOne) {
    Outcome o = connect_once(server_with(good, {"http/1.1"}), trusting_client({"h2"}), "localhost");
    EXPECT_EQ(o.client_error, "");
    EXPECT_EQ(o.client_alpn, "");
    EXPECT_EQ(o.server_alpn, "");
    EXPECT_EQ(o.client_got, "pong");

    o = connect_once(server_with(good, {"h2"}), trusting_client(), "localhost");  // the client offers nothing
    EXPECT_EQ(o.client_alpn, "");
    EXPECT_EQ(o.server_alpn, "");
}

TEST_F(Tls, AlpnRequiredByTheServerFailsTheHandshakeWithNoProtocolInCommon) {
    auto server_ctx = TlsContext::server({.cert_file = good.cert, .key_file = good.key, .alpn = {"http/1.1"},
                                          .alpn_required = true});
    Outcome o = connect_once(server_ctx, trusting_client({"h2"}), "localhost");
    EXPECT_TRUE(contains(o.client_error, "no application protocol")) << o.client_error;
    EXPECT_TRUE(contains(o.server_error, "no application protocol")) << o.server_error;
}

TEST_F(Tls, AnExpiredCertificateIsRefusedWithOpenSslsReason) {
    Outcome o = connect_once(server_with(expired), trusting_client(), "localhost");
    EXPECT_EQ(o.client_error,
              "TLS handshake with localhost failed: certificate verify failed: certificate has expired");
    EXPECT_EQ(o.client_verify, X509_V_ERR_CERT_HAS_EXPIRED);
    EXPECT_TRUE(contains(o.server_error, "TLS handshake with 127.0.0.1:")) << o.server_error;
    EXPECT_TRUE(contains(o.server_error, "certificate expired")) << o.server_error;  // the client's alert
    EXPECT_EQ(o.server_got, "");
}

TEST_F(Tls, ACertificateForAnotherHostIsRefusedAsAHostnameMismatch) {
    Outcome o = connect_once(server_with(other_host), trusting_client(), "localhost");
    EXPECT_TRUE(contains(o.client_error, "localhost")) << o.client_error;
    EXPECT_TRUE(contains(o.client_error, "hostname mismatch")) << o.client_error;
    EXPECT_EQ(o.client_verify, X509_V_ERR_HOSTNAME_MISMATCH);
    EXPECT_EQ(o.server_got, "");
}

TEST_F(Tls, ASelfSignedCertificateIsRefusedUnlessVerificationIsOff) {
    Outcome o = connect_once(server_with(self_signed), trusting_client(), "localhost");
    EXPECT_TRUE(contains(o.client_error, "self-signed certificate") || contains(o.client_error, "self signed"))
        << o.client_error;
    EXPECT_EQ(o.client_verify, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);

    o = connect_once(server_with(self_signed), TlsContext::client({.verify = false}), "localhost");
    EXPECT_EQ(o.client_error, "");
    EXPECT_EQ(o.client_got, "pong");

    // verify = false also accepts a name that does not match, and needs no name at all.
    o = connect_once(server_with(other_host), TlsContext::client({.verify = false}), "");
    EXPECT_EQ(o.client_error, "");
    EXPECT_EQ(o.client_got, "pong");
}

TEST_F(Tls, ACertificateFromAnUntrustedCaIsRefused) {
    // The system store does not know the test CA.
    Outcome o = connect_once(server_with(good), TlsContext::client(), "localhost");
    EXPECT_TRUE(contains(o.client_error, "certificate verify failed: unable to get local issuer certificate"))
        << o.client_error;
    EXPECT_EQ(o.client_verify, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST_F(Tls, AnIpLiteralIsVerifiedAgainstTheCertificatesIpAddresses) {
    Outcome o = connect_once(server_with(good), trusting_client(), "127.0.0.1");
    EXPECT_EQ(o.client_error, "");
    EXPECT_EQ(o.client_got, "pong");

    o = connect_once(server_with(other_host), trusting_client(), "127.0.0.1");
    EXPECT_TRUE(contains(o.client_error, "TLS handshake with 127.0.0.1 failed")) << o.client_error;
    EXPECT_TRUE(contains(o.client_error, "IP address mismatch")) << o.client_error;
    EXPECT_EQ(o.client_verify, X509_V_ERR_IP_ADDRESS_MISMATCH);
}

TEST_F(Tls, AServerAskingForAClientCertificateSeesItsSubject) {
    auto server_ctx = TlsContext::server({.cert_file = good.cert, .key_file = good.key, .client_ca_file = pki->ca_file()});
    auto client_ctx = TlsContext::client({.ca_file = pki->ca_file(), .cert_file = client_id.cert, .key_file = client_id.key});
    Outcome o = connect_once(server_ctx, client_ctx, "localhost");
    EXPECT_EQ(o.client_error, "");
    EXPECT_EQ(o.server_error, "");
    EXPECT_EQ(o.server_saw_subject, "CN=corio test client");
    EXPECT_EQ(o.client_got, "pong");

    // Without a certificate the server refuses; a TLS 1.3 client learns it from the alert, after its handshake.
    o = connect_once(server_ctx, trusting_client(), "localhost");
    EXPECT_TRUE(contains(o.server_error, "peer did not return a certificate")) << o.server_error;
    EXPECT_TRUE(contains(o.client_error, "certificate required")) << o.client_error;
}

TEST_F(Tls, ATls12ServerIsSpokenToAndVerifiedAlikeUnlessTheClientWantsTls13) {
    auto tls12_server = [](const corio_test::TlsIdentity& id, std::vector<std::string> alpn = {}) {
        auto ctx = server_with(id, std::move(alpn));
        SSL_CTX_set_max_proto_version(ctx.native_handle(), TLS1_2_VERSION);
        return ctx;
    };
    Outcome o = connect_once(tls12_server(good, {"http/1.1"}), trusting_client({"h2", "http/1.1"}), "localhost");
    EXPECT_EQ(o.client_error, "");
    EXPECT_EQ(o.server_got, "ping");
    EXPECT_EQ(o.client_got, "pong");
    EXPECT_EQ(o.client_alpn, "http/1.1");

    o = connect_once(tls12_server(expired), trusting_client(), "localhost");
    EXPECT_EQ(o.client_error,
              "TLS handshake with localhost failed: certificate verify failed: certificate has expired");

    auto tls13_only = TlsContext::client({.ca_file = pki->ca_file(), .min_version = corio::net::TlsVersion::tls1_3});
    o = connect_once(tls12_server(good), tls13_only, "localhost");
    EXPECT_TRUE(contains(o.client_error, "TLS handshake with localhost failed")) << o.client_error;
    EXPECT_TRUE(contains(o.server_error, "unsupported protocol")) << o.server_error;
    EXPECT_TRUE(contains(o.client_error, "protocol version")) << o.client_error;
}

TEST_F(Tls, CloseNotifyEndsTheStreamWithReadReturningZero) {
    auto server_ctx = server_with(good);
    auto client_ctx = trusting_client();
    auto body = [&]() -> Task<std::string> {
        auto listener = TcpListener::bind("127.0.0.1:0");
        auto address = listener.local_address();
        auto server = [&]() -> Task<std::size_t> {
            TlsStream tls = co_await TlsStream::accept(co_await listener.accept(), server_ctx);
            co_await tls.write_all("bye");
            co_await tls.shutdown();
            co_await tls.shutdown();  // a second one does nothing
            std::array<std::byte, 16> buf;
            co_return co_await tls.read(buf);  // the client's close_notify
        };
        auto client = [&]() -> Task<std::string> {
            TlsStream tls = co_await TlsStream::connect(co_await TcpStream::connect(address), client_ctx, "localhost");
            std::string got = co_await read_n(tls, 3);
            std::array<std::byte, 16> buf;
            std::size_t first = co_await tls.read(buf);
            std::size_t again = co_await tls.read(buf);
            co_await tls.shutdown();
            EXPECT_EQ(first, 0u);
            EXPECT_EQ(again, 0u);
            EXPECT_THROW(co_await tls.write_all("late"), TlsError);  // after our own close_notify
            co_return got;
        };
        auto [server_read, got] = co_await corio::gather(server(), client());
        EXPECT_EQ(server_read, 0u);
        co_return got;
    };
    EXPECT_EQ(corio_test::run_bounded(body()), "bye");
}

/// The server sends "partial" then ends TCP without close_notify; returns what the client read, or its error.
std::string eof_without_close_notify(TlsContext server_ctx, TlsContext client_ctx, bool lenient_stream) {
    auto body = [&]() -> Task<std::string> {
        auto listener = TcpListener::bind("127.0.0.1:0");
        auto address = listener.local_address();
        auto server = [&]() -> Task<void> {
            TlsStream tls = co_await TlsStream::accept(co_await listener.accept(), server_ctx);
            co_await tls.write_all("partial");
            tls.tcp().shutdown(corio::net::Shutdown::write);
            std::array<std::byte, 16> buf;
            try {
                while (co_await tls.read(buf) != 0) {
                }
            } catch (const std::exception&) {  // the client's alert, or its close
            }
        };
        auto client = [&]() -> Task<std::string> {
            TlsStream tls = co_await TlsStream::connect(co_await TcpStream::connect(address), client_ctx, "localhost");
            if (lenient_stream) tls.set_ignore_unexpected_eof(true);
            std::string got = co_await read_n(tls, 7);
            std::array<std::byte, 16> buf;
            try {
                std::size_t n = co_await tls.read(buf);
                got += " then " + std::to_string(n);
            } catch (const TlsError& e) {
                got += std::string(" then ") + e.what();
            }
            if (tls.broken()) {
                try {  // every later operation raises too
                    (void)co_await tls.read(buf);
                    got += " (read again)";
                } catch (const TlsError&) {
                }
            }
            co_return got;
        };
        auto [_, got] = co_await corio::gather(server(), client());
        co_return got;
    };
    return corio_test::run_bounded(body());
}

TEST_F(Tls, APeerClosingWithoutCloseNotifyIsAnUnexpectedEofUnlessAllowed) {
    EXPECT_EQ(eof_without_close_notify(server_with(good), trusting_client(), false),
              "partial then TLS connection with localhost: unexpected EOF: the peer closed the connection without "
              "close_notify (the data may be truncated)");
    auto lenient = TlsContext::client({.ca_file = pki->ca_file(), .ignore_unexpected_eof = true});
    EXPECT_EQ(eof_without_close_notify(server_with(good), lenient, false), "partial then 0");
    EXPECT_EQ(eof_without_close_notify(server_with(good), trusting_client(), true), "partial then 0");
}

TEST_F(Tls, AReadCancelledWhileWaitingLosesNothing) {
    auto server_ctx = server_with(good);
    auto client_ctx = trusting_client();
    auto body = [&]() -> Task<std::string> {
        auto listener = TcpListener::bind("127.0.0.1:0");
        auto address = listener.local_address();
        corio::Event timed_out;
        auto server = [&]() -> Task<void> {
            TlsStream tls = co_await TlsStream::accept(co_await listener.accept(), server_ctx);
            co_await timed_out.wait();
            co_await tls.write_all("late");
            co_await tls.shutdown();
        };
        auto client = [&]() -> Task<std::string> {
            TlsStream tls = co_await TlsStream::connect(co_await TcpStream::connect(address), client_ctx, "localhost");
            std::array<std::byte, 16> buf;
            EXPECT_THROW(co_await corio::timeout(20ms, tls.read(buf)), corio::TimeoutError);
            EXPECT_FALSE(tls.broken());
            timed_out.set();
            co_return co_await read_to_end(tls);
        };
        auto [_, got] = co_await corio::gather(server(), client());
        co_return got;
    };
    EXPECT_EQ(corio_test::run_bounded(body()), "late");
}

TEST_F(Tls, AWriteCancelledMidTransferBreaksTheStream) {
    auto server_ctx = server_with(good);
    auto client_ctx = trusting_client();
    std::string big(64 << 20, 'x');  // far more than the socket buffers hold while the server does not read
    auto body = [&]() -> Task<std::string> {
        auto listener = TcpListener::bind("127.0.0.1:0");
        auto address = listener.local_address();
        corio::Event client_done;
        auto server = [&]() -> Task<void> {
            TlsStream tls = co_await TlsStream::accept(co_await listener.accept(), server_ctx);
            co_await client_done.wait();
        };
        auto client = [&]() -> Task<std::string> {
            TlsStream tls = co_await TlsStream::connect(co_await TcpStream::connect(address), client_ctx, "localhost");
            EXPECT_THROW(co_await corio::timeout(50ms, tls.write_all(big)), corio::TimeoutError);
            EXPECT_TRUE(tls.broken());
            std::string errors;
            try {
                co_await tls.write_all("more");
            } catch (const TlsError& e) {
                errors += e.what();
            }
            try {
                std::array<std::byte, 16> buf;
                (void)co_await tls.read(buf);
            } catch (const TlsError& e) {
                errors += std::string(" / ") + e.what();
            }
            try {
                co_await tls.shutdown();
            } catch (const TlsError& e) {
                errors += std::string(" / ") + e.what();
            }
            tls.close();
            client_done.set();
            co_return errors;
        };
        auto [_, errors] = co_await corio::gather(server(), client());
        co_return errors;
    };
    const std::string m = "TLS connection with localhost: stream was cancelled mid-record";
    EXPECT_EQ(corio_test::run_bounded(body()), m + " / " + m + " / " + m);
}

// close() from a third task while a read waits for records and a write waits for room in the socket: both
// end with an error (their receive and send were cancelled or failed, not left writing into the stream's
// buffers), and every later operation says the stream is closed. ASan watches the buffers.
/// Parks a read and a write on a client stream (nothing to read; more to write than the socket buffers hold
/// while the server does not read), then calls `end(stream)`; returns how many of the two failed once they
/// ended, and what `then(stream)` returned after that.
Task<std::pair<int, std::string>> park_a_read_and_a_write_then(TlsContext server_ctx, TlsContext client_ctx,
                                                                void (*end)(std::unique_ptr<TlsStream>&),
                                                                Task<std::string> (*then)(std::unique_ptr<TlsStream>&)) {
    std::string big(16 << 20, 'x');
    auto listener = TcpListener::bind("127.0.0.1:0");
    auto address = listener.local_address();
    corio::Event client_done;
    auto server = [&]() -> Task<void> {
        TlsStream tls = co_await TlsStream::accept(co_await listener.accept(), server_ctx);
        co_await client_done.wait();
    };
    auto client = [&]() -> Task<std::pair<int, std::string>> {
        auto tls = std::make_unique<TlsStream>(
            co_await TlsStream::connect(co_await TcpStream::connect(address), client_ctx, "localhost"));
        auto failed = [](Task<void> op) -> Task<int> {
            try {
                co_await std::move(op);
            } catch (const std::exception&) {
                co_return 1;
            }
            co_return 0;
        };
        auto reader = corio::spawn(failed([](TlsStream& t) -> Task<void> {
            std::array<std::byte, 64> buf;
            co_await t.read_exact(buf);
        }(*tls)));
        auto writer = corio::spawn(failed(tls->write_all(big)));
        co_await corio::sleep(50ms);  // both parked
        EXPECT_FALSE(reader.done());
        EXPECT_FALSE(writer.done());
        end(tls);
        int failures = co_await reader;
        failures += co_await writer;
        std::string after = co_await then(tls);
        client_done.set();
        co_return std::pair{failures, after};
    };
    auto [_, result] = co_await corio::gather(server(), client());
    co_return result;
}

TEST_F(Tls, ClosingAStreamEndsTheReadAndTheWritePendingOnIt) {
    auto [failures, later] = corio_test::run_bounded(park_a_read_and_a_write_then(
        server_with(good), trusting_client(), [](std::unique_ptr<TlsStream>& tls) { tls->close(); },
        [](std::unique_ptr<TlsStream>& tls) -> Task<std::string> {
            try {
                co_await tls->write_all("more");
            } catch (const TlsError& e) {
                co_return e.what();
            }
            co_return "(none)";
        }));
    EXPECT_EQ(failures, 2);
    EXPECT_EQ(later, "TLS stream is closed");
}

TEST_F(Tls, DestroyingAStreamWithAReadAndAWritePendingEndsThemSafely) {
    // Before: the parked operations used the freed stream when they resumed (heap-use-after-free).
    auto [failures, later] = corio_test::run_bounded(park_a_read_and_a_write_then(
        server_with(good), trusting_client(), [](std::unique_ptr<TlsStream>& tls) { tls.reset(); },
        [](std::unique_ptr<TlsStream>&) -> Task<std::string> { co_return ""; }));
    EXPECT_EQ(failures, 2);
}

TEST_F(Tls, AHandshakeWithASilentPeerIsBoundedByTheCallersTimeout) {
    auto client_ctx = trusting_client();
    auto body = [&]() -> Task<bool> {
        auto listener = TcpListener::bind("127.0.0.1:0");
        auto address = listener.local_address();
        TcpStream tcp = co_await TcpStream::connect(address);
        TcpStream accepted = co_await listener.accept();  // never speaks TLS
        try {
            (void)co_await corio::timeout(30ms, TlsStream::connect(std::move(tcp), client_ctx, "localhost"));
        } catch (const corio::TimeoutError&) {
            co_return true;
        }
        co_return false;
    };
    EXPECT_TRUE(corio_test::run_bounded(body()));
}

TEST_F(Tls, TwoReadsAtOnceOnOneStreamAreAUsageError) {
    auto server_ctx = server_with(good);
    auto client_ctx = trusting_client();
    auto body = [&]() -> Task<void> {
        auto listener = TcpListener::bind("127.0.0.1:0");
        auto address = listener.local_address();
        corio::Event done;
        auto server = [&]() -> Task<void> {
            TlsStream tls = co_await TlsStream::accept(co_await listener.accept(), server_ctx);
            co_await done.wait();
            co_await tls.shutdown();
        };
        auto client = [&]() -> Task<void> {
            TlsStream tls = co_await TlsStream::connect(co_await TcpStream::connect(address), client_ctx, "localhost");
            std::array<std::byte, 16> a, b;
            auto first = corio::spawn(tls.read(a));
            co_await corio_test::settle();
            EXPECT_THROW(co_await tls.read(b), std::logic_error);
            done.set();
            EXPECT_EQ(co_await first, 0u);
        };
        co_await corio::gather(server(), client());
    };
    corio_test::run_bounded(body());
}

TEST_F(Tls, ConnectByHostNameResolvesConnectsAndVerifiesTheName) {
    auto server_ctx = server_with(good, {"http/1.1"});
    auto client_ctx = trusting_client({"http/1.1"});
    auto body = [&]() -> Task<std::string> {
        auto listener = TcpListener::bind("127.0.0.1:0");
        auto port = listener.local_address().port();
        auto server = [&]() -> Task<void> {
            TlsStream tls = co_await TlsStream::accept(co_await listener.accept(), server_ctx);
            co_await tls.write_all("hi");
            co_await tls.shutdown();
        };
        auto client = [&]() -> Task<std::string> {
            TlsStream tls = co_await TlsStream::connect("localhost", port, client_ctx);
            EXPECT_EQ(tls.peer_name(), "localhost");
            EXPECT_EQ(tls.alpn_protocol(), "http/1.1");
            EXPECT_EQ(tls.version(), "TLSv1.3");
            co_return co_await read_to_end(tls);
        };
        auto [_, got] = co_await corio::gather(server(), client());
        co_return got;
    };
    EXPECT_EQ(corio_test::run_bounded(body()), "hi");
}

TEST_F(Tls, MisconfigurationIsReportedWhenTheContextIsMade) {
    try {
        (void)TlsContext::server({.cert_file = pki->dir() + "/missing.pem", .key_file = good.key});
        ADD_FAILURE() << "no error";
    } catch (const TlsError& e) {
        EXPECT_TRUE(contains(e.what(), "cannot load the certificate chain " + pki->dir() + "/missing.pem")) << e.what();
    }
    try {
        (void)TlsContext::server({.cert_file = good.cert, .key_file = expired.key});
        ADD_FAILURE() << "no error";
    } catch (const TlsError& e) {
        EXPECT_TRUE(contains(e.what(), "key values mismatch")) << e.what();
    }
    EXPECT_THROW((void)TlsContext::client({.alpn = {""}}), std::invalid_argument);
    EXPECT_THROW((void)TlsContext::server({}), std::invalid_argument);
    auto client_ctx = trusting_client();
    auto verify_without_name = [&]() -> Task<void> {
        auto listener = TcpListener::bind("127.0.0.1:0");
        TcpStream tcp = co_await TcpStream::connect(listener.local_address());
        (void)co_await TlsStream::connect(std::move(tcp), client_ctx, "");
    };
    EXPECT_THROW(corio_test::run_bounded(verify_without_name()), std::invalid_argument);
}

}  // namespace
