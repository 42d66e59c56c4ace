#pragma once
// The errors of the networking layer. All derive from corio::Error; failed system calls on a socket keep
// raising corio::IoError (with the errno in code()).

#include <corio/error.hpp>

#include <cstddef>
#include <string>

namespace corio::net {

/// Base of the networking layer's own errors.
class NetError : public Error {
public:
    using Error::Error;
};

/// No address of a host accepted the connection: names the host and port, and each address's reason.
/// code() is the errno of the last attempt (ETIMEDOUT when the connect timeout passed).
class ConnectError : public NetError {
public:
    ConnectError(const std::string& what, int err) : NetError(what), m_errno(err) {}
    [[nodiscard]] int code() const noexcept { return m_errno; }

private:
    int m_errno;
};

/// A name could not be resolved: names the host and the resolver's reason ("host not found", "timeout"...).
class DnsError : public NetError {
public:
    DnsError(std::string host, std::string reason, int status);
    [[nodiscard]] const std::string& host() const noexcept { return m_host; }
    [[nodiscard]] const std::string& reason() const noexcept { return m_reason; }
    /// The c-ares status code (ARES_ENOTFOUND, ARES_ETIMEOUT...).
    [[nodiscard]] int status() const noexcept { return m_status; }

private:
    std::string m_host;
    std::string m_reason;
    int m_status;
};

/// A TLS handshake or record failed: carries OpenSSL's reason ("certificate has expired", "hostname
/// mismatch"...). Verification failures are never downgraded to an unverified connection.
class TlsError : public NetError {
public:
    explicit TlsError(const std::string& what, long verify_result = 0) : NetError(what), m_verify(verify_result) {}
    /// The X509 verification result (X509_V_OK = 0 when the failure was not a verification failure).
    [[nodiscard]] long verify_result() const noexcept { return m_verify; }

private:
    long m_verify;
};

/// read_exact() met the end of the stream before the requested count (asyncio's IncompleteReadError).
class IncompleteReadError : public NetError {
public:
    IncompleteReadError(std::size_t got, std::size_t expected);
    [[nodiscard]] std::size_t got() const noexcept { return m_got; }
    [[nodiscard]] std::size_t expected() const noexcept { return m_expected; }

private:
    std::size_t m_got;
    std::size_t m_expected;
};

}  // namespace corio::net
