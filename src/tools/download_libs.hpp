// libcurl, libarchive, libcrypto and zlib, opened with dlopen at the first download instead of
// being linked: together with their own dependencies (gnutls, kerberos, ldap, icu, ...)
// they are ~40 libraries, which made every onestor start (each driver action oned runs)
// several times slower and heavier. Only a download pays for them now, and a host without
// them still runs every other action. Each function is looked up once, on first call.
#pragma once
#define CURL_DISABLE_TYPECHECK  // curl_easy_setopt/getinfo as plain functions, not macros
#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <zlib.h>
#undef curl_easy_setopt  // curl.h's pass-through macros would swallow lib::curl_easy_setopt
#undef curl_easy_getinfo

#include "onestor/error.hpp"

#include <dlfcn.h>

namespace onestor::download::lib {

inline void* open(const char* soname) {
    // Lazy binding: only the functions a download calls are resolved (fewer pages touched);
    // ours are looked up, and checked, by sym() below.
    void* h = ::dlopen(soname, RTLD_LAZY | RTLD_LOCAL);
    if (!h) throw DriverError(std::string("downloads need ") + soname + ", which cannot be loaded", ::dlerror());
    return h;
}
inline void* curl() {
    static void* h = open("libcurl.so.4");
    return h;
}
inline void* archive() {
    static void* h = open("libarchive.so.13");
    return h;
}
inline void* crypto() {
    static void* h = open("libcrypto.so.3");
    return h;
}
inline void* zlib() {
    static void* h = open("libz.so.1");
    return h;
}  // (libcurl's own dependency)

template <typename F>
F sym(void* h, const char* name) {
    void* p = ::dlsym(h, name);
    if (!p) throw DriverError(std::string("a loaded library lacks ") + name);
    return reinterpret_cast<F>(p);
}

// lib::NAME(args...) calls ::NAME from LIB, found on the first call.
#define ONESTOR_LAZY(LIB, NAME)                               \
    template <typename... A>                                  \
    auto NAME(A... a) {                                       \
        static auto f = sym<decltype(&::NAME)>(LIB(), #NAME); \
        return f(a...);                                       \
    }

ONESTOR_LAZY(curl, curl_global_init)
ONESTOR_LAZY(curl, curl_easy_init)
ONESTOR_LAZY(curl, curl_easy_cleanup)
ONESTOR_LAZY(curl, curl_easy_reset)
ONESTOR_LAZY(curl, curl_easy_setopt)
ONESTOR_LAZY(curl, curl_easy_getinfo)
ONESTOR_LAZY(curl, curl_easy_strerror)
ONESTOR_LAZY(curl, curl_easy_escape)
ONESTOR_LAZY(curl, curl_easy_pause)
ONESTOR_LAZY(curl, curl_free)
ONESTOR_LAZY(curl, curl_slist_append)
ONESTOR_LAZY(curl, curl_slist_free_all)
ONESTOR_LAZY(curl, curl_multi_init)
ONESTOR_LAZY(curl, curl_multi_cleanup)
ONESTOR_LAZY(curl, curl_multi_add_handle)
ONESTOR_LAZY(curl, curl_multi_remove_handle)
ONESTOR_LAZY(curl, curl_multi_perform)
ONESTOR_LAZY(curl, curl_multi_poll)
ONESTOR_LAZY(curl, curl_multi_info_read)
ONESTOR_LAZY(curl, curl_multi_strerror)

ONESTOR_LAZY(archive, archive_read_new)
ONESTOR_LAZY(archive, archive_read_free)
ONESTOR_LAZY(archive, archive_read_open)
ONESTOR_LAZY(archive, archive_read_next_header)
ONESTOR_LAZY(archive, archive_read_data)
ONESTOR_LAZY(archive, archive_read_support_filter_gzip)
ONESTOR_LAZY(archive, archive_read_support_filter_bzip2)
ONESTOR_LAZY(archive, archive_read_support_filter_xz)
ONESTOR_LAZY(archive, archive_read_support_filter_zstd)
ONESTOR_LAZY(archive, archive_read_support_format_tar)
ONESTOR_LAZY(archive, archive_read_support_format_zip_streamable)
ONESTOR_LAZY(archive, archive_read_support_format_raw)
ONESTOR_LAZY(archive, archive_error_string)
ONESTOR_LAZY(archive, archive_entry_filetype)
ONESTOR_LAZY(archive, archive_entry_hardlink)
ONESTOR_LAZY(archive, archive_entry_is_encrypted)

ONESTOR_LAZY(crypto, EVP_MD_CTX_new)
ONESTOR_LAZY(crypto, EVP_MD_CTX_free)
ONESTOR_LAZY(crypto, EVP_DigestInit_ex)
ONESTOR_LAZY(crypto, EVP_DigestUpdate)
ONESTOR_LAZY(crypto, EVP_DigestFinal_ex)
ONESTOR_LAZY(crypto, EVP_md5)
ONESTOR_LAZY(crypto, EVP_sha1)
ONESTOR_LAZY(crypto, EVP_sha256)

ONESTOR_LAZY(zlib, inflateInit2_)
ONESTOR_LAZY(zlib, inflate)
ONESTOR_LAZY(zlib, inflateReset)
ONESTOR_LAZY(zlib, inflateEnd)

#undef ONESTOR_LAZY

}  // namespace onestor::download::lib
