// TLS: contexts over SSL_CTX, and streams that drive an SSL through two memory BIOs. The SSL never touches
// the socket: what it writes to `wbio` is sent with TcpStream::write, and what the socket delivers is fed to
// `rbio` whenever a call reports SSL_ERROR_WANT_READ. Every SSL call runs to completion between awaits, so
// one reader and one writer can share the SSL; sends are serialized by `send_lock`.
#include <corio/net/error.hpp>
#include <corio/net/tls.hpp>
#include <corio/sync/lock.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <arpa/inet.h>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>

namespace corio::net {

namespace {

/// Plaintext handed to one SSL_write: one full record.
constexpr std::size_t k_record = 16384;
/// One receive, and one chunk of records to send: a full record with the largest overhead (TLS 1.2 CBC) fits.
constexpr std::size_t k_buffer = k_record + 2048 + 64;

struct Reasons {
    std::string text;
    bool verify_failed = false;  // SSL_R_CERTIFICATE_VERIFY_FAILED was among them
};

/// Empties this thread's error queue into OpenSSL's reasons, oldest first: "reason (detail); reason".
Reasons drain_errors() {
    Reasons out;
    const char* data = nullptr;
    int flags = 0;
    while (unsigned long e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {
        if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED)
            out.verify_failed = true;
        if (!out.text.empty()) out.text += "; ";
        if (const char* r = ERR_reason_error_string(e)) {
            out.text += r;
        } else {
            char buf[256];
            ERR_error_string_n(e, buf, sizeof buf);
            out.text += buf;
        }
        if ((flags & ERR_TXT_STRING) && data && *data) {
            out.text += " (";
            out.text += data;
            out.text += ')';
        }
    }
    return out;
}

std::string errors_text() {
    std::string t = drain_errors().text;
    return t.empty() ? "unknown error" : t;
}

/// The TlsError for an SSL call that failed with `ssl_error`; `what` names the operation and the peer.
/// Must run before the next await: the error queue is per thread, and other connections use it too.
TlsError failure(SSL* ssl, int ssl_error, const std::string& what) {
    Reasons r = drain_errors();
    long verify = r.verify_failed ? SSL_get_verify_result(ssl) : X509_V_OK;
    std::string reason;
    if (verify != X509_V_OK) reason = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
    else if (!r.text.empty()) reason = std::move(r.text);
    else if (ssl_error == SSL_ERROR_SYSCALL) reason = "unexpected end of stream";
    else reason = "SSL error " + std::to_string(ssl_error);
    return TlsError(what + ": " + reason, verify);
}

/// The names in ALPN's wire format: each one preceded by its length.
std::vector<unsigned char> alpn_wire(const std::vector<std::string>& names) {
    std::vector<unsigned char> out;
    for (const auto& n : names) {
        if (n.empty() || n.size() > 255) throw std::invalid_argument("ALPN protocol name of " + std::to_string(n.size()) +
                                                                     " bytes (1 to 255 allowed): '" + n + "'");
        out.push_back(static_cast<unsigned char>(n.size()));
        out.insert(out.end(), n.begin(), n.end());
    }
    return out;
}

bool is_ip_literal(const std::string& s) {
    unsigned char buf[sizeof(in6_addr)];
    return ::inet_pton(AF_INET, s.c_str(), buf) == 1 || ::inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

/// Marks an operation in progress; a second one of the same kind at once is a usage error.
class Busy {
public:
    Busy(bool& flag, const char* what) : m_flag(flag) {
        if (flag) throw std::logic_error(what);
        flag = true;
    }
    ~Busy() { m_flag = false; }
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;

private:
    bool& m_flag;
};

}  // namespace

struct TlsContext::Impl {
    SSL_CTX* ctx = nullptr;
    bool server = false;
    bool verify = true;
    bool ignore_unexpected_eof = false;
    bool alpn_required = false;
    std::vector<unsigned char> alpn;  // the server's protocols, wire format, preferred first

    Impl() = default;
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    ~Impl() { SSL_CTX_free(ctx); }
};

struct TlsStream::State {
    TcpStream tcp;
    TlsContext context;  // keeps the SSL_CTX and its ALPN list alive while `ssl` uses them
    SSL* ssl = nullptr;  // owns both BIOs
    BIO* rbio = nullptr; // records received, waiting for SSL_read
    BIO* wbio = nullptr; // records SSL produced, waiting to be sent
    std::string peer;    // for messages: the server name, or the client's address
    std::string alpn;
    std::unique_ptr<std::byte[]> buffers;  // [0, k_buffer): one receive; [k_buffer, 2 k_buffer): one send
    Lock send_lock;
    std::string failure;  // non-empty: the stream is unusable, and why
    long failure_verify = 0;
    bool send_broken = false;  // a send was interrupted: what reached the peer ends mid-record
    bool ignore_unexpected_eof = false;
    bool eof = false;
    bool closed = false;
    bool reading = false;
    bool writing = false;
    bool shutdown_sent = false;
    TlsStatistics stats;

    State(TcpStream t, TlsContext c, std::string p) : tcp(std::move(t)), context(std::move(c)), peer(std::move(p)) {}
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State() { SSL_free(ssl); }

    std::byte* in() noexcept { return buffers.get(); }
    std::byte* out() noexcept { return buffers.get() + k_buffer; }
    void fail(std::string why, long verify = 0) {
        if (failure.empty()) {
            failure = std::move(why);
            failure_verify = verify;
        }
    }
};

namespace {

using State = TlsStream::State;

/// The ALPN selection of a server: the first of its own protocols that the client offers.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen,
                void* arg) {
    const auto& impl = *static_cast<const TlsContext::Impl*>(arg);
    for (std::size_t i = 0; i < impl.alpn.size(); i += 1 + impl.alpn[i]) {
        const unsigned char* name = impl.alpn.data() + i + 1;
        unsigned len = impl.alpn[i];
        for (unsigned j = 0; j < inlen && j + 1 + in[j] <= inlen; j += 1 + in[j]) {
            if (in[j] == len && std::memcmp(in + j + 1, name, len) == 0) {
                *out = in + j + 1;
                *outlen = in[j];
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return impl.alpn_required ? SSL_TLSEXT_ERR_ALERT_FATAL : SSL_TLSEXT_ERR_NOACK;
}

std::shared_ptr<TlsContext::Impl> new_context(bool server, TlsVersion min_version, bool ignore_unexpected_eof) {
    ERR_clear_error();
    auto impl = std::make_shared<TlsContext::Impl>();
    impl->server = server;
    impl->ignore_unexpected_eof = ignore_unexpected_eof;
    impl->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!impl->ctx) throw TlsError("cannot create a TLS context: " + errors_text());
    SSL_CTX_set_min_proto_version(impl->ctx, min_version == TlsVersion::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(impl->ctx, SSL_OP_NO_RENEGOTIATION);
    return impl;
}

void load_identity(SSL_CTX* ctx, const std::string& cert_file, const std::string& key_file) {
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1)
        throw TlsError("cannot load the certificate chain " + cert_file + ": " + errors_text());
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1)
        throw TlsError("cannot load the private key " + key_file + ": " + errors_text());
    if (SSL_CTX_check_private_key(ctx) != 1)
        throw TlsError("the private key " + key_file + " does not match the certificate " + cert_file + ": " +
                       errors_text());
}

State& usable(const std::shared_ptr<State>& p) {
    if (!p || p->closed) throw TlsError("TLS stream is closed");
    if (!p->failure.empty()) throw TlsError(p->failure, p->failure_verify);
    return *p;
}

std::unique_ptr<State> new_state(TcpStream tcp, const TlsContext& context, SSL_CTX* ctx, bool ignore_eof,
                                 std::string peer) {
    auto s = std::make_unique<State>(std::move(tcp), context, std::move(peer));
    s->ignore_unexpected_eof = ignore_eof;
    s->buffers = std::make_unique_for_overwrite<std::byte[]>(2 * k_buffer);
    ERR_clear_error();
    s->ssl = SSL_new(ctx);
    if (!s->ssl) throw TlsError("cannot create a TLS connection: " + errors_text());
    BIO* r = BIO_new(BIO_s_mem());
    BIO* w = BIO_new(BIO_s_mem());
    if (!r || !w) {
        BIO_free(r);
        BIO_free(w);
        throw TlsError("cannot create a TLS connection: " + errors_text());
    }
    SSL_set_bio(s->ssl, r, w);
    s->rbio = r;
    s->wbio = w;
    return s;
}

bool has_output(const State& s) noexcept { return BIO_ctrl_pending(s.wbio) > 0; }

/// Sends the records waiting in `wbio`, one lock holder at a time. A writer (`wait`) waits for the lock and
/// sends everything, including records others add meanwhile: it must not return before its own went out.
/// A reader never waits for a writer's progress, which may depend on the peer reading: if the lock is taken
/// it leaves its records to the holder; otherwise it sends only what is there now, and a writer that adds
/// records meanwhile is queued on the lock and sends them itself. Whoever appends to `wbio` then either
/// holds or waits for the lock, with no suspension in between, so no record is left behind. Any exception
/// here breaks the stream: records may have gone out in part.
Task<void> send_pending(State& s, bool wait = true) {
    if (!has_output(s)) co_return;
    try {
        std::optional<Lock::Guard> guard = s.send_lock.try_lock();
        if (!guard && !wait) co_return;
        if (!guard) guard.emplace(co_await s.send_lock.lock());
        std::size_t budget = wait ? SIZE_MAX : BIO_ctrl_pending(s.wbio);
        while (budget > 0) {
            if (s.send_broken) throw TlsError("TLS connection with " + s.peer + ": stream was cancelled mid-record");
            int n = BIO_read(s.wbio, s.out(), static_cast<int>(std::min(budget, k_buffer)));
            if (n <= 0) break;
            budget -= std::min(budget, static_cast<std::size_t>(n));
            // Counted send by send: after a failure raw_bytes_sent tells whether anything reached the peer.
            std::span<const std::byte> chunk(s.out(), static_cast<std::size_t>(n));
            co_await s.tcp.write_all(chunk, s.stats.raw_bytes_sent);
        }
    } catch (const CancelledError&) {
        s.send_broken = true;
        s.fail("TLS connection with " + s.peer + ": stream was cancelled mid-record");
        throw;
    } catch (const std::exception& e) {
        s.send_broken = true;
        s.fail(e.what());
        throw;
    }
}

/// One receive from the socket into `rbio`; false at the end of the TCP stream. A cancelled receive
/// consumed nothing.
Task<bool> receive(State& s) {
    std::size_t n = 0;
    try {
        n = co_await s.tcp.read(std::span<std::byte>(s.in(), k_buffer));
    } catch (const IoError& e) {
        s.fail(e.what());
        throw;
    }
    if (n == 0) co_return false;
    BIO_write(s.rbio, s.in(), static_cast<int>(n));  // a memory BIO takes it all
    s.stats.raw_bytes_received += n;
    co_return true;
}

Task<void> handshake(State& s) {
    const std::string what = "TLS handshake with " + s.peer + " failed";
    for (;;) {
        ERR_clear_error();
        int r = SSL_do_handshake(s.ssl);
        if (r == 1) break;
        int e = SSL_get_error(s.ssl, r);
        if (e != SSL_ERROR_WANT_READ) {
            TlsError err = failure(s.ssl, e, what);
            try {
                co_await send_pending(s);  // the alert, if the peer still listens
            } catch (const IoError&) {
            }
            throw err;
        }
        co_await send_pending(s);
        if (!co_await receive(s)) throw TlsError(what + ": the peer closed the connection");
    }
    co_await send_pending(s);  // the last flight (and a server's session tickets)
    const unsigned char* p = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(s.ssl, &p, &len);
    if (p) s.alpn.assign(reinterpret_cast<const char*>(p), len);
}

}  // namespace

// ---- TlsContext ----

TlsContext TlsContext::client(TlsClientOptions options) {
    auto wire = alpn_wire(options.alpn);
    if (options.cert_file.empty() != options.key_file.empty())
        throw std::invalid_argument("TlsContext::client: a client certificate needs both cert_file and key_file");
    auto impl = new_context(false, options.min_version, options.ignore_unexpected_eof);
    SSL_CTX* ctx = impl->ctx;
    impl->verify = options.verify;
    if (!options.ca_file.empty() || !options.ca_path.empty()) {
        if (SSL_CTX_load_verify_locations(ctx, options.ca_file.empty() ? nullptr : options.ca_file.c_str(),
                                          options.ca_path.empty() ? nullptr : options.ca_path.c_str()) != 1)
            throw TlsError("cannot load the CA certificates " + options.ca_file +
                           (options.ca_file.empty() || options.ca_path.empty() ? "" : " and ") + options.ca_path +
                           ": " + errors_text());
    } else if (options.verify && SSL_CTX_set_default_verify_paths(ctx) != 1) {
        throw TlsError("cannot load the system CA certificates: " + errors_text());
    }
    SSL_CTX_set_verify(ctx, options.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    if (!wire.empty() && SSL_CTX_set_alpn_protos(ctx, wire.data(), static_cast<unsigned>(wire.size())) != 0)
        throw TlsError("cannot set the ALPN protocols: " + errors_text());
    if (!options.cert_file.empty()) load_identity(ctx, options.cert_file, options.key_file);
    return TlsContext(std::move(impl));
}

TlsContext TlsContext::server(TlsServerOptions options) {
    if (options.cert_file.empty() || options.key_file.empty())
        throw std::invalid_argument("TlsContext::server needs cert_file and key_file");
    auto impl = new_context(true, options.min_version, options.ignore_unexpected_eof);
    SSL_CTX* ctx = impl->ctx;
    impl->alpn = alpn_wire(options.alpn);
    impl->alpn_required = options.alpn_required;
    load_identity(ctx, options.cert_file, options.key_file);
    static const unsigned char k_session_context[] = "corio";
    SSL_CTX_set_session_id_context(ctx, k_session_context, sizeof k_session_context - 1);
    if (!impl->alpn.empty() || impl->alpn_required) SSL_CTX_set_alpn_select_cb(ctx, select_alpn, impl.get());
    if (!options.client_ca_file.empty()) {
        if (SSL_CTX_load_verify_locations(ctx, options.client_ca_file.c_str(), nullptr) != 1)
            throw TlsError("cannot load the client CA certificates " + options.client_ca_file + ": " + errors_text());
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca_file.c_str());
        if (!names) throw TlsError("cannot load the client CA names " + options.client_ca_file + ": " + errors_text());
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    return TlsContext(std::move(impl));
}

bool TlsContext::is_server() const noexcept { return m_impl && m_impl->server; }

ssl_ctx_st* TlsContext::native_handle() const noexcept { return m_impl ? m_impl->ctx : nullptr; }

// ---- TlsStream: handshakes ----

TlsStream::TlsStream() noexcept = default;
TlsStream::TlsStream(std::unique_ptr<State> state) noexcept : m_state(std::move(state)) {}
TlsStream::TlsStream(TlsStream&&) noexcept = default;
TlsStream& TlsStream::operator=(TlsStream&& o) noexcept {
    if (this != &o) {
        end_pending();
        m_state = std::move(o.m_state);
    }
    return *this;
}
TlsStream::~TlsStream() { end_pending(); }

void TlsStream::end_pending() noexcept {
    // A read or write still in progress holds the state (each keeps its own reference): closing ends it with
    // "TLS stream is closed" or the socket's error, and the state goes with it.
    if (m_state && (m_state->reading || m_state->writing)) close();
}

Task<TlsStream> TlsStream::connect(TcpStream tcp, TlsContext context, std::string server_name) {
    if (!context.valid()) throw std::invalid_argument("TlsStream::connect: empty TlsContext");
    if (context.is_server()) throw std::invalid_argument("TlsStream::connect needs a client TlsContext");
    const TlsContext::Impl& impl = *context.m_impl;
    if (server_name.size() >= 2 && server_name.front() == '[' && server_name.back() == ']')
        server_name = server_name.substr(1, server_name.size() - 2);
    if (server_name.empty() && impl.verify)
        throw std::invalid_argument("TlsStream::connect: verifying the server needs its name");
    std::string peer = server_name;
    if (peer.empty()) {
        try {
            peer = tcp.peer_address().to_string();
        } catch (const IoError&) {
            peer = "the server";
        }
    }
    auto st = new_state(std::move(tcp), context, impl.ctx, impl.ignore_unexpected_eof, std::move(peer));
    SSL* ssl = st->ssl;
    SSL_set_connect_state(ssl);
    if (!server_name.empty()) {
        if (is_ip_literal(server_name)) {
            if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server_name.c_str()) != 1)
                throw TlsError("cannot verify the IP address " + server_name + ": " + errors_text());
        } else {
            if (SSL_set_tlsext_host_name(ssl, server_name.c_str()) != 1 || SSL_set1_host(ssl, server_name.c_str()) != 1)
                throw TlsError("cannot use the server name " + server_name + ": " + errors_text());
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        }
    }
    co_await handshake(*st);
    co_return TlsStream(std::move(st));
}

Task<TlsStream> TlsStream::connect(std::string host, std::uint16_t port, TlsContext context, ConnectOptions options) {
    TcpStream tcp = co_await TcpStream::connect(host, port, options);
    co_return co_await connect(std::move(tcp), std::move(context), std::move(host));
}

Task<TlsStream> TlsStream::accept(TcpStream tcp, TlsContext context) {
    if (!context.valid()) throw std::invalid_argument("TlsStream::accept: empty TlsContext");
    if (!context.is_server()) throw std::invalid_argument("TlsStream::accept needs a server TlsContext");
    const TlsContext::Impl& impl = *context.m_impl;
    std::string peer;
    try {
        peer = tcp.peer_address().to_string();
    } catch (const IoError&) {
        peer = "a client";
    }
    auto st = new_state(std::move(tcp), context, impl.ctx, impl.ignore_unexpected_eof, std::move(peer));
    SSL_set_accept_state(st->ssl);
    co_await handshake(*st);
    co_return TlsStream(std::move(st));
}

// ---- TlsStream: data ----

Task<std::size_t> TlsStream::read(std::span<std::byte> buf) { return read_on(m_state, buf); }

Task<std::size_t> TlsStream::read_on(std::shared_ptr<State> keep, std::span<std::byte> buf) {
    State& s = usable(keep);
    Busy busy(s.reading, "TlsStream::read: another read is in progress on this stream");
    for (;;) {
        if (s.eof || buf.empty()) co_return 0;
        ERR_clear_error();
        std::size_t n = 0;
        int r = SSL_read_ex(s.ssl, buf.data(), buf.size(), &n);
        if (r == 1) {
            s.stats.bytes_read += n;
            if (has_output(s)) co_await send_pending(s, false);  // rare: the answer to a key update
            co_return n;
        }
        int e = SSL_get_error(s.ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN) {
            s.eof = true;
            co_return 0;
        }
        if (e == SSL_ERROR_WANT_READ) {
            if (has_output(s)) co_await send_pending(s, false);
            if (co_await receive(s)) continue;
            if (s.ignore_unexpected_eof) {
                s.eof = true;
                co_return 0;
            }
            s.fail("TLS connection with " + s.peer +
                   ": unexpected EOF: the peer closed the connection without close_notify (the data may be truncated)");
            throw TlsError(s.failure);
        }
        TlsError err = failure(s.ssl, e, "TLS connection with " + s.peer + " failed");
        s.fail(err.what(), err.verify_result());
        try {
            co_await send_pending(s, false);  // our alert, if any
        } catch (const IoError&) {
        }
        throw err;
    }
}

Task<void> TlsStream::read_exact(std::span<std::byte> buf) {
    std::shared_ptr<State> keep = m_state;  // the stream may be destroyed meanwhile (see ~TlsStream)
    std::size_t got = 0;
    while (got < buf.size()) {
        std::size_t n = co_await read_on(keep, buf.subspan(got));
        if (n == 0) throw IncompleteReadError(got, buf.size());
        got += n;
    }
}

Task<void> TlsStream::write_all(std::span<const std::byte> buf) {
    std::shared_ptr<State> keep = m_state;  // the stream may be destroyed meanwhile (see ~TlsStream)
    State& s = usable(keep);
    Busy busy(s.writing, "TlsStream::write_all: another write is in progress on this stream");
    try {
        for (std::size_t done = 0; done < buf.size();) {
            ERR_clear_error();
            std::size_t n = 0;
            if (SSL_write_ex(s.ssl, buf.data() + done, std::min(buf.size() - done, k_record), &n) != 1) {
                TlsError err = failure(s.ssl, SSL_get_error(s.ssl, 0), "TLS write to " + s.peer + " failed");
                s.fail(err.what(), err.verify_result());
                throw err;
            }
            done += n;
            s.stats.bytes_written += n;
            co_await send_pending(s);
        }
    } catch (const CancelledError&) {
        s.fail("TLS connection with " + s.peer + ": stream was cancelled mid-record");
        throw;
    }
}

Task<void> TlsStream::write_all(std::string_view text) {
    return write_all(std::as_bytes(std::span<const char>(text.data(), text.size())));
}

Task<void> TlsStream::shutdown() {
    std::shared_ptr<State> keep = m_state;  // the stream may be destroyed meanwhile (see ~TlsStream)
    State& s = usable(keep);
    Busy busy(s.writing, "TlsStream::shutdown: a write is in progress on this stream");
    if (s.shutdown_sent) co_return;
    ERR_clear_error();
    int r = SSL_shutdown(s.ssl);
    if (r < 0) {
        TlsError err = failure(s.ssl, SSL_get_error(s.ssl, r), "TLS shutdown with " + s.peer + " failed");
        s.fail(err.what(), err.verify_result());
        throw err;
    }
    s.shutdown_sent = true;
    try {
        co_await send_pending(s);
    } catch (const CancelledError&) {
        s.fail("TLS connection with " + s.peer + ": stream was cancelled mid-record");
        throw;
    }
}

void TlsStream::close() noexcept {
    if (!m_state) return;
    m_state->tcp.close();
    m_state->closed = true;
}

// ---- TlsStream: what was negotiated ----

std::string_view TlsStream::alpn_protocol() const noexcept { return m_state ? std::string_view(m_state->alpn) : ""; }

std::string_view TlsStream::version() const noexcept { return m_state ? SSL_get_version(m_state->ssl) : ""; }

std::string_view TlsStream::peer_name() const noexcept { return m_state ? std::string_view(m_state->peer) : ""; }

std::string TlsStream::peer_certificate_subject() const {
    X509* cert = m_state ? SSL_get0_peer_certificate(m_state->ssl) : nullptr;
    if (!cert) return {};
    BIO* b = BIO_new(BIO_s_mem());
    if (!b) throw std::bad_alloc();
    X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    long len = BIO_get_mem_data(b, &data);
    std::string out(data, static_cast<std::size_t>(len));
    BIO_free(b);
    return out;
}

void TlsStream::set_ignore_unexpected_eof(bool on) noexcept {
    if (m_state) m_state->ignore_unexpected_eof = on;
}

bool TlsStream::broken() const noexcept { return m_state && !m_state->failure.empty(); }

bool TlsStream::has_buffered_input() const noexcept {
    return m_state && (SSL_has_pending(m_state->ssl) == 1 || BIO_ctrl_pending(m_state->rbio) > 0);
}

TlsStatistics TlsStream::statistics() const noexcept { return m_state ? m_state->stats : TlsStatistics{}; }

TcpStream& TlsStream::tcp() {
    if (!m_state) throw TlsError("TLS stream is closed");
    return m_state->tcp;
}

ssl_st* TlsStream::native_handle() const noexcept { return m_state ? m_state->ssl : nullptr; }

}  // namespace corio::net
