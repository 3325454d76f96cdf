// Owning pointers to OpenSSL objects, each freed by its own *_free function.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace ntsd {

template <auto Free>
struct OpensslDeleter {
  template <typename T>
  void operator()(T* object) const noexcept {
    Free(object);
  }
};

template <typename T, auto Free>
using OpensslPtr = std::unique_ptr<T, OpensslDeleter<Free>>;

using SslCtxPtr = OpensslPtr<SSL_CTX, SSL_CTX_free>;
using SslPtr = OpensslPtr<SSL, SSL_free>;
using X509Ptr = OpensslPtr<X509, X509_free>;
using BioPtr = OpensslPtr<BIO, BIO_free>;
using BignumPtr = OpensslPtr<BIGNUM, BN_free>;
using GeneralNamesPtr = OpensslPtr<GENERAL_NAMES, GENERAL_NAMES_free>;
using EvpPkeyPtr = OpensslPtr<EVP_PKEY, EVP_PKEY_free>;

// A string OpenSSL allocated (BN_bn2hex, ...): OPENSSL_free is a macro.
struct OpensslStringDeleter {
  void operator()(char* text) const noexcept { OPENSSL_free(text); }
};
using OpensslStringPtr = std::unique_ptr<char, OpensslStringDeleter>;

}  // namespace ntsd
