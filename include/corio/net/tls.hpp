#pragma once
// TLS over a TcpStream (OpenSSL 3, memory BIOs driven by the loop): client and server contexts, the stream.

#include <corio/net/tcp.hpp>
#include <corio/task.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct ssl_ctx_st;  // OpenSSL's SSL_CTX
struct ssl_st;      // OpenSSL's SSL

namespace corio::net {

/// The oldest protocol version a context accepts.
enum class TlsVersion { tls1_2, tls1_3 };

/// Options of TlsContext::client.
struct TlsClientOptions {
    /// Verify the server: its certificate chain up to a trusted CA, and its name or IP against the name
    /// given to TlsStream::connect. A failure is a TlsError, never a silent downgrade.
    ///
    /// !!! `verify = false` DISABLES ALL PROTECTION AGAINST MAN-IN-THE-MIDDLE ATTACKS: any certificate, from
    /// !!! anyone, for any name, is accepted; the traffic is encrypted to whoever answered. FOR TESTS ONLY.
    bool verify = true;
    /// PEM file of trusted CA certificates. With ca_path also empty, the system store is used.
    std::string ca_file{};
    /// Directory of trusted CA certificates in OpenSSL's hashed layout (openssl rehash).
    std::string ca_path{};
    /// Protocols offered through ALPN, preferred first ({"h2", "http/1.1"}); empty: no ALPN.
    std::vector<std::string> alpn{};
    /// A client certificate (PEM chain, leaf first) and its key, for servers that ask for one.
    std::string cert_file{};
    std::string key_file{};
    TlsVersion min_version = TlsVersion::tls1_2;
    /// TCP closed by the peer without a close_notify alert. false: read() raises TlsError ("unexpected
    /// EOF"), as a truncation attack cannot be told apart from it. true: read() returns 0 as at a clean end;
    /// only for protocols that delimit their own messages (HTTP bodies with Content-Length or chunked).
    bool ignore_unexpected_eof = false;
};

/// Options of TlsContext::server.
struct TlsServerOptions {
    /// The certificate chain (PEM, leaf first) and its private key (PEM). Both required.
    std::string cert_file{};
    std::string key_file{};
    /// Protocols accepted through ALPN, preferred first: the first of them the client offers is chosen.
    std::vector<std::string> alpn{};
    /// No protocol in common: false, the handshake goes on without ALPN (alpn_protocol() is empty);
    /// true, it fails with the no_application_protocol alert (RFC 7301).
    bool alpn_required = false;
    /// Non-empty: require a client certificate issued by a CA of this PEM file (mutual TLS).
    std::string client_ca_file{};
    TlsVersion min_version = TlsVersion::tls1_2;
    /// As TlsClientOptions::ignore_unexpected_eof.
    bool ignore_unexpected_eof = false;
};

/// Shared configuration of TLS connections (an OpenSSL SSL_CTX): trust, certificates, ALPN. A cheap,
/// copyable handle; streams keep their context alive.
///
///     auto ctx = net::TlsContext::client({.alpn = {"h2", "http/1.1"}});   // system CAs, verification on
///     auto tls = co_await net::TlsStream::connect("example.com", 443, ctx);
class TlsContext {
public:
    /// An empty handle (valid() is false); connecting or accepting with it raises std::invalid_argument.
    TlsContext() noexcept = default;

    /// A client context. Reads its files now, so make contexts before the loop runs (or in to_thread).
    /// Errors: TlsError naming the file and OpenSSL's reason; std::invalid_argument for an ALPN name that
    /// is empty or longer than 255 bytes.
    [[nodiscard]] static TlsContext client(TlsClientOptions options = {});
    /// A server context. Errors: as client(); std::invalid_argument without cert_file or key_file.
    [[nodiscard]] static TlsContext server(TlsServerOptions options);

    [[nodiscard]] bool valid() const noexcept { return m_impl != nullptr; }
    [[nodiscard]] bool is_server() const noexcept;
    /// The SSL_CTX, to tune what these options do not cover. Thread safety: OpenSSL allows sharing a
    /// context between threads as long as nobody changes it.
    [[nodiscard]] ssl_ctx_st* native_handle() const noexcept;

    struct Impl;

private:
    explicit TlsContext(std::shared_ptr<const Impl> impl) noexcept : m_impl(std::move(impl)) {}
    std::shared_ptr<const Impl> m_impl;
    friend class TlsStream;
};

/// Counters of a TlsStream.
struct TlsStatistics {
    std::uint64_t bytes_read = 0;         ///< plaintext returned by read()
    std::uint64_t bytes_written = 0;      ///< plaintext accepted by write_all()
    std::uint64_t raw_bytes_received = 0; ///< TLS records received from the socket
    std::uint64_t raw_bytes_sent = 0;     ///< TLS records sent to the socket
};

/// A TLS connection over a TcpStream. One read and one write may be in flight at once (from two tasks),
/// not two reads or two writes (std::logic_error). Move-only; it must outlive its pending operations.
/// Destroying it closes the socket without close_notify: call shutdown() first for a clean end.
///
/// Cancellation, for every operation: a read() cancelled while waiting for the peer loses nothing and the
/// stream stays usable. Any operation cancelled while it was sending records (write_all, shutdown, and a
/// read that had to answer the peer) leaves the stream broken: its records went out in part, so every
/// later operation raises TlsError ("stream was cancelled mid-record"); close it. A cancelled handshake
/// returns no stream (its TcpStream is closed). After any failure (a TLS error, an unexpected EOF, a
/// socket error while sending) every later operation raises the same error as a TlsError.
class TlsStream {
public:
    /// An empty stream: every operation raises TlsError ("stream is closed").
    TlsStream() noexcept;
    TlsStream(TlsStream&&) noexcept;
    TlsStream& operator=(TlsStream&&) noexcept;
    ~TlsStream();

    /// The client handshake over a connected `tcp`: SNI and verification for `server_name`, a DNS name or
    /// an IP literal ("127.0.0.1", "::1" or "[::1]"; checked against the certificate's IP addresses, no SNI).
    ///
    /// Cancellation: the handshake is abandoned and `tcp` closed (a timeout is the caller's: wrap it in
    /// corio::timeout). Errors: TlsError naming the peer and OpenSSL's reason ("TLS handshake with
    /// localhost failed: certificate verify failed: certificate has expired"; verify_result() holds the
    /// X509_V_ERR code); IoError from the socket; std::invalid_argument for an empty context, a server
    /// context, or an empty server_name while verifying. Thread safety: loop thread only.
    ///
    ///     auto tcp = co_await net::TcpStream::connect(addr);
    ///     auto tls = co_await net::TlsStream::connect(std::move(tcp), ctx, "example.com");
    [[nodiscard]] static Task<TlsStream> connect(TcpStream tcp, TlsContext context, std::string server_name);
    /// TcpStream::connect(host, port, options), then the handshake with `host` as server name. Errors: as
    /// TcpStream::connect and as above.
    [[nodiscard]] static Task<TlsStream> connect(std::string host, std::uint16_t port, TlsContext context,
                                                 ConnectOptions options = {});
    /// The server handshake over an accepted `tcp`. Cancellation, errors and threads: as connect(); the
    /// peer is named by its address.
    ///
    ///     auto tls = co_await net::TlsStream::accept(co_await listener.accept(), server_ctx);
    [[nodiscard]] static Task<TlsStream> accept(TcpStream tcp, TlsContext context);

    /// Reads what is available, up to `buf.size()` bytes of plaintext; returns the count, 0 once the peer
    /// sent close_notify (or closed without it, with ignore_unexpected_eof).
    ///
    /// Cancellation: see the class; nothing is lost while waiting. Errors: TlsError (OpenSSL's reason, the
    /// peer's alert, "unexpected EOF" when TCP ended without close_notify); IoError. Thread safety: loop
    /// thread only.
    ///
    ///     std::array<std::byte, 4096> buf;
    ///     std::size_t n = co_await tls.read(buf);
    [[nodiscard]] Task<std::size_t> read(std::span<std::byte> buf);
    /// Reads exactly `buf.size()` bytes. Cancellation: bytes already read are lost to the caller.
    /// Errors: IncompleteReadError when the stream ends first; as read().
    [[nodiscard]] Task<void> read_exact(std::span<std::byte> buf);

    /// Encrypts and sends all of `buf` (records of up to 16 KiB), returning once the socket took them.
    ///
    /// Cancellation: the stream is broken (see the class). Errors: TlsError; IoError (EPIPE...), which
    /// also breaks the stream. Thread safety: loop thread only.
    ///
    ///     co_await tls.write_all("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
    [[nodiscard]] Task<void> write_all(std::span<const std::byte> buf);
    [[nodiscard]] Task<void> write_all(std::string_view text);

    /// Sends close_notify: the peer's read() returns 0; no more writes. Reading goes on until the peer's
    /// own close_notify. A second call does nothing.
    /// Cancellation: the stream is broken. Errors: TlsError; IoError.
    ///
    ///     co_await tls.shutdown();
    [[nodiscard]] Task<void> shutdown();
    /// Closes the socket without close_notify: a read or write in progress ends with an error. Idempotent.
    /// Destroying (or assigning to) a stream with a read or write in progress closes it the same way; the
    /// operation keeps what it uses alive until it ends.
    void close() noexcept;

    /// The protocol chosen through ALPN ("h2", "http/1.1"), empty when none was.
    [[nodiscard]] std::string_view alpn_protocol() const noexcept;
    /// The negotiated version ("TLSv1.3").
    [[nodiscard]] std::string_view version() const noexcept;
    /// The name the client verified (connect), or the client's address (accept).
    [[nodiscard]] std::string_view peer_name() const noexcept;
    /// The peer certificate's subject in RFC 2253 form ("CN=localhost"), empty without one.
    [[nodiscard]] std::string peer_certificate_subject() const;
    /// Lets a peer close TCP without close_notify (see TlsClientOptions::ignore_unexpected_eof).
    void set_ignore_unexpected_eof(bool on) noexcept;
    /// True once a cancelled or failed operation has made the stream unusable.
    [[nodiscard]] bool broken() const noexcept;
    /// True when bytes received from the peer wait in the TLS engine, not yet returned by read(): plaintext
    /// or records not yet decrypted (an alert, close_notify). The socket may hold more: this looks only at
    /// what was received already. No I/O.
    [[nodiscard]] bool has_buffered_input() const noexcept;
    [[nodiscard]] TlsStatistics statistics() const noexcept;
    /// The connection underneath (its addresses, options). Reading or writing it directly breaks TLS.
    /// Errors: TlsError for an empty stream.
    [[nodiscard]] TcpStream& tcp();
    [[nodiscard]] ssl_st* native_handle() const noexcept;

    struct State;

private:
    explicit TlsStream(std::unique_ptr<State> state) noexcept;
    static Task<std::size_t> read_on(std::shared_ptr<State> keep, std::span<std::byte> buf);
    void end_pending() noexcept;
    std::shared_ptr<State> m_state;  // shared with the operations in progress (see ~TlsStream)
};

}  // namespace corio::net
