#pragma once
// Certificates for TLS tests, made with OpenSSL's C API: a CA (EC P-256 keys), the leaves it issues with a
// chosen name and validity window, and self-signed leaves; written as PEM files to a temporary directory
// that is removed with the TestPki.

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace corio_test {

/// A certificate (chain) file and its private key file.
struct TlsIdentity {
    std::string cert{};
    std::string key{};
};

/// What a certificate says.
struct CertSpec {
    std::string common_name{};
    /// subjectAltName entries: "DNS:localhost", "IP:127.0.0.1".
    std::vector<std::string> alt_names{};
    /// The validity window, in seconds from now: an expired certificate has not_after < 0.
    long not_before = -3600;
    long not_after = 24 * 3600;
};

/// A test certificate authority in its own temporary directory.
class TestPki {
public:
    TestPki() {
        char tmpl[] = "/tmp/corio_tls_XXXXXX";
        if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
        m_dir = tmpl;
        m_ca_key = make_key();
        m_ca = make_cert({.common_name = "corio test CA", .not_after = 30 * 24 * 3600}, m_ca_key.get(), nullptr,
                         nullptr, true);
        write_cert(ca_file(), m_ca.get());
    }
    ~TestPki() {
        std::error_code ignored;
        std::filesystem::remove_all(m_dir, ignored);
    }
    TestPki(const TestPki&) = delete;
    TestPki& operator=(const TestPki&) = delete;

    /// The CA certificate (PEM): what clients trust.
    [[nodiscard]] std::string ca_file() const { return m_dir + "/ca.pem"; }
    [[nodiscard]] const std::string& dir() const { return m_dir; }

    /// A leaf certificate issued by the CA, written as `<name>.pem` and `<name>.key`.
    TlsIdentity issue(const std::string& name, const CertSpec& spec) {
        Key key = make_key();
        Cert cert = make_cert(spec, key.get(), m_ca.get(), m_ca_key.get(), false);
        return write(name, cert.get(), key.get());
    }

    /// A self-signed leaf certificate, written as `<name>.pem` and `<name>.key`.
    TlsIdentity self_signed(const std::string& name, const CertSpec& spec) {
        Key key = make_key();
        Cert cert = make_cert(spec, key.get(), nullptr, nullptr, false);
        return write(name, cert.get(), key.get());
    }

private:
    struct KeyFree {
        void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
    };
    struct CertFree {
        void operator()(X509* c) const noexcept { X509_free(c); }
    };
    using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
    using Cert = std::unique_ptr<X509, CertFree>;

    static void check(bool ok, const char* what) {
        if (!ok) throw std::runtime_error(std::string("test certificate: ") + what + " failed");
    }

    static Key make_key() {
        Key k(EVP_EC_gen("P-256"));
        check(k != nullptr, "EC key generation");
        return k;
    }

    static void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
        check(ext != nullptr, value.c_str());
        check(X509_add_ext(cert, ext, -1) == 1, "X509_add_ext");
        X509_EXTENSION_free(ext);
    }

    /// Signed by `issuer` with `issuer_key`, or self-signed when they are null.
    Cert make_cert(const CertSpec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, bool ca) {
        Cert c(X509_new());
        check(c != nullptr, "X509_new");
        X509* x = c.get();
        check(X509_set_version(x, 2) == 1, "X509_set_version");
        check(ASN1_INTEGER_set(X509_get_serialNumber(x), ++m_serial) == 1, "serial");
        check(X509_gmtime_adj(X509_getm_notBefore(x), spec.not_before) != nullptr, "notBefore");
        check(X509_gmtime_adj(X509_getm_notAfter(x), spec.not_after) != nullptr, "notAfter");
        check(X509_set_pubkey(x, key) == 1, "X509_set_pubkey");
        X509_NAME* name = X509_get_subject_name(x);
        check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                         reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1, -1,
                                         0) == 1,
              "subject");
        check(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) == 1, "issuer");
        X509* signer = issuer ? issuer : x;
        add_ext(x, signer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
        // A self-signed leaf carries no keyUsage, so OpenSSL sees it as self-signed (not as a leaf whose
        // issuer is missing).
        if (ca) add_ext(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
        else if (issuer) add_ext(x, signer, NID_key_usage, "critical,digitalSignature");
        if (!ca) add_ext(x, signer, NID_ext_key_usage, "serverAuth,clientAuth");
        add_ext(x, signer, NID_subject_key_identifier, "hash");
        if (issuer) add_ext(x, signer, NID_authority_key_identifier, "keyid:always");
        if (!spec.alt_names.empty()) {
            std::string san;
            for (const auto& n : spec.alt_names) san += (san.empty() ? "" : ",") + n;
            add_ext(x, signer, NID_subject_alt_name, san);
        }
        check(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0, "X509_sign");
        return c;
    }

    static void write_cert(const std::string& path, X509* cert) {
        FILE* f = std::fopen(path.c_str(), "w");
        check(f != nullptr, path.c_str());
        bool ok = PEM_write_X509(f, cert) == 1;
        std::fclose(f);
        check(ok, "PEM_write_X509");
    }

    TlsIdentity write(const std::string& name, X509* cert, EVP_PKEY* key) {
        TlsIdentity id{m_dir + "/" + name + ".pem", m_dir + "/" + name + ".key"};
        write_cert(id.cert, cert);
        FILE* f = std::fopen(id.key.c_str(), "w");
        check(f != nullptr, id.key.c_str());
        bool ok = PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
        std::fclose(f);
        check(ok, "PEM_write_PrivateKey");
        return id;
    }

    std::string m_dir;
    Key m_ca_key;
    Cert m_ca;
    long m_serial = 0;
};

}  // namespace corio_test
