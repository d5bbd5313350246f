// Over 400 lines: one pipeline of four stages (source, decompressor, unpacker, writer) that
// pull from each other and share one error path; split, each would expose its buffers.
//
// The download pipeline (see download.hpp). Everything is pulled, in one thread, from the
// end: the writer asks the unpacker, which asks the decompressor (libarchive's read
// callbacks), which asks the metered source (hashes, counters, progress), which drives
// libcurl's multi interface only when it has nothing buffered. So memory is a few fixed
// buffers whatever the image size, and a slow disk slows the download instead of piling
// data up.
#include "onestor/download.hpp"

#include "onestor/config.hpp"
#include "onestor/error.hpp"
#include "onestor/exec.hpp"
#include "onestor/log.hpp"
#include "onestor/stream.hpp"

#include "download_libs.hpp"

#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace onestor::download {
namespace {

// Thrown by a source that must start over from byte 0 (the server ignored our Range):
// the whole pipeline is rebuilt, hashes and the output reset.
struct Restart {};

class Reader {
public:
    virtual ~Reader() = default;
    virtual size_t read(char* buf, size_t n) = 0;  // 0: end of stream
};

double now() {
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string mib(unsigned long long b) { return fmt::format("{:.1f} MiB", static_cast<double>(b) / (1 << 20)); }

// ---- sources -------------------------------------------------------------------------

class FdSource : public Reader {
public:
    explicit FdSource(int fd, std::string shown) : fd_(fd), shown_(std::move(shown)) {}
    size_t read(char* buf, size_t n) override {
        for (;;) {
            ssize_t k = ::read(fd_, buf, n);
            if (k >= 0) return static_cast<size_t>(k);
            if (errno != EINTR) throw_errno("cannot read", shown_);
            check_interrupted();
        }
    }

private:
    int fd_;
    std::string shown_;
};

void curl_init() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (lib::curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw DriverError("cannot initialise libcurl");
    });
}

std::string scheme_of(const std::string& url) {
    auto p = url.find("://");
    return p == std::string::npos ? "" : lower(url.substr(0, p));
}

// An HTTP(S) resource, read as a stream. Transient failures (connect, timeouts, cut
// connections, 408/429/5xx) are retried with backoff, resuming with a Range request (and
// If-Range on the first response's strong ETag, so a changed file is not spliced); a server
// that answers a Range with the whole file makes the pipeline start over.
class HttpSource : public Reader {
public:
    HttpSource(std::string url, std::string shown, HttpSettings s, const S3Credentials* s3)
        : url_(std::move(url)), shown_(std::move(shown)), s_(std::move(s)) {
        curl_init();
        easy_ = lib::curl_easy_init();
        multi_ = lib::curl_multi_init();
        if (!easy_ || !multi_) throw DriverError("cannot initialise libcurl");
        if (s3) {
            sigv4_ = "aws:amz:" + s3->region + ":s3";
            user_ = s3->access_key;
            pass_ = s3->secret_key;
        }
    }
    ~HttpSource() override {
        if (active_) lib::curl_multi_remove_handle(multi_, easy_);
        lib::curl_easy_cleanup(easy_);
        lib::curl_multi_cleanup(multi_);
        lib::curl_slist_free_all(headers_);
    }
    HttpSource(const HttpSource&) = delete;
    HttpSource& operator=(const HttpSource&) = delete;

    unsigned long long total() const { return total_; }  // 0: unknown

    size_t read(char* out, size_t n) override {
        for (;;) {
            if (pos_ < buf_.size()) {
                size_t k = std::min(n, buf_.size() - pos_);
                std::memcpy(out, buf_.data() + pos_, k);
                pos_ += k;
                if (pos_ == buf_.size()) {
                    buf_.clear();
                    pos_ = 0;
                }
                return k;
            }
            if (done_) return 0;
            if (!active_) start();
            if (paused_) {  // drained: take the chunk libcurl held back (delivered right here)
                paused_ = false;
                lib::curl_easy_pause(easy_, CURLPAUSE_CONT);
                continue;
            }
            int running = 0;
            CURLMcode mc = lib::curl_multi_perform(multi_, &running);
            if (mc != CURLM_OK) throw DriverError("download of " + quoted(shown_) + " failed: " + lib::curl_multi_strerror(mc));
            int queued = 0;
            while (CURLMsg* m = lib::curl_multi_info_read(multi_, &queued))
                if (m->msg == CURLMSG_DONE) attempt_done(m->data.result);
            if (buf_.empty() && active_) {
                lib::curl_multi_poll(multi_, nullptr, 0, 500, nullptr);
                check_interrupted();
            }
        }
    }

private:
    void start() {
        if (total_ && offset_ >= total_) {  // everything arrived before the error
            done_ = true;
            return;
        }
        lib::curl_easy_reset(easy_);
        lib::curl_slist_free_all(headers_);
        headers_ = nullptr;
        std::string scheme = scheme_of(url_);
        lib::curl_easy_setopt(easy_, CURLOPT_URL, url_.c_str());
        lib::curl_easy_setopt(easy_, CURLOPT_PROTOCOLS_STR, "http,https");
        // Never from https to http (nor anywhere but http(s)).
        lib::curl_easy_setopt(easy_, CURLOPT_REDIR_PROTOCOLS_STR, scheme == "https" ? "https" : "http,https");
        lib::curl_easy_setopt(easy_, CURLOPT_FOLLOWLOCATION, 1L);
        lib::curl_easy_setopt(easy_, CURLOPT_MAXREDIRS, 10L);
        lib::curl_easy_setopt(easy_, CURLOPT_FAILONERROR, 1L);
        lib::curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
        lib::curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYPEER, 1L);
        lib::curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYHOST, 2L);
        if (!s_.ca_file.empty()) lib::curl_easy_setopt(easy_, CURLOPT_CAINFO, s_.ca_file.c_str());
        if (!s_.proxy.empty()) lib::curl_easy_setopt(easy_, CURLOPT_PROXY, s_.proxy.c_str());
        lib::curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT, s_.connect_timeout);
        lib::curl_easy_setopt(easy_, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        lib::curl_easy_setopt(easy_, CURLOPT_LOW_SPEED_TIME, s_.low_speed_time);
        if (s_.rate) lib::curl_easy_setopt(easy_, CURLOPT_MAX_RECV_SPEED_LARGE, static_cast<curl_off_t>(s_.rate));
        lib::curl_easy_setopt(easy_, CURLOPT_USERAGENT, "onestor/" ONESTOR_VERSION);
        if (!sigv4_.empty()) {
            lib::curl_easy_setopt(easy_, CURLOPT_AWS_SIGV4, sigv4_.c_str());
            lib::curl_easy_setopt(easy_, CURLOPT_USERNAME, user_.c_str());
            lib::curl_easy_setopt(easy_, CURLOPT_PASSWORD, pass_.c_str());
        }
        lib::curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, errbuf_);
        errbuf_[0] = 0;
        lib::curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &HttpSource::on_data);
        lib::curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
        lib::curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, &HttpSource::on_header);
        lib::curl_easy_setopt(easy_, CURLOPT_HEADERDATA, this);
        // S3 wants the payload's hash signed in (an empty GET body); libcurl signs the headers we add.
        if (!sigv4_.empty())
            headers_ = lib::curl_slist_append(
                headers_, "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        ranged_ = offset_ > 0;
        if (ranged_) {
            std::string range = std::to_string(offset_) + "-";
            lib::curl_easy_setopt(easy_, CURLOPT_RANGE, range.c_str());  // copied by libcurl
            if (!etag_.empty()) headers_ = lib::curl_slist_append(headers_, ("If-Range: " + etag_).c_str());
        }
        if (headers_) lib::curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers_);
        first_chunk_ = true;
        restart_ = false;
        paused_ = false;
        attempt_bytes_ = 0;
        hdr_etag_.clear();
        hdr_total_ = 0;
        if (lib::curl_multi_add_handle(multi_, easy_) != CURLM_OK)
            throw DriverError("cannot start the download of " + quoted(shown_));
        active_ = true;
    }

    static size_t on_header(char* p, size_t size, size_t n, void* self_) {
        auto* self = static_cast<HttpSource*>(self_);
        std::string line(p, size * n);
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
        std::string l = lower(line);
        if (l.rfind("http/", 0) == 0) {  // each response of a redirect chain starts afresh
            self->hdr_etag_.clear();
            self->hdr_total_ = 0;
        } else if (l.rfind("etag:", 0) == 0) {
            std::string v = line.substr(5);
            v.erase(0, v.find_first_not_of(" \t"));
            if (v.rfind("W/", 0) != 0) self->hdr_etag_ = v;  // If-Range takes strong ETags only
        } else if (l.rfind("content-range:", 0) == 0) {
            auto slash = l.rfind('/');
            if (slash != std::string::npos && l.substr(slash + 1) != "*") {
                try {
                    self->hdr_total_ = std::stoull(l.substr(slash + 1));
                } catch (...) {}
            }
        }
        return size * n;
    }

    static size_t on_data(char* p, size_t size, size_t n, void* self_) {
        auto* self = static_cast<HttpSource*>(self_);
        if (self->first_chunk_) {
            self->first_chunk_ = false;
            long code = 0;
            lib::curl_easy_getinfo(self->easy_, CURLINFO_RESPONSE_CODE, &code);
            if (self->ranged_ && code != 206) {  // the whole file again: start over
                self->restart_ = true;
                return 0;
            }
            if (!self->ranged_) {
                curl_off_t len = -1;
                lib::curl_easy_getinfo(self->easy_, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
                self->total_ = len > 0 ? static_cast<unsigned long long>(len) : 0;
                self->etag_ = self->hdr_etag_;
            } else if (!self->total_) {
                self->total_ = self->hdr_total_;
            }
        }
        // One curl_multi_perform may read many chunks: past 256 KiB the rest waits in
        // libcurl (paused) until the pipeline drained ours. Memory stays bounded.
        if (self->buf_.size() >= (256u << 10)) {
            self->paused_ = true;
            return CURL_WRITEFUNC_PAUSE;
        }
        self->buf_.append(p, size * n);
        self->offset_ += size * n;
        self->attempt_bytes_ += size * n;
        return size * n;
    }

    void attempt_done(CURLcode rc) {
        lib::curl_multi_remove_handle(multi_, easy_);
        active_ = false;
        if (restart_) {
            // A server that cuts every transfer and cannot resume would loop forever.
            if (++restarts_ > s_.retries)
                throw DriverError("download of " + quoted(shown_) + " keeps breaking off and the server cannot resume it");
            offset_ = 0;
            total_ = 0;
            etag_.clear();
            log::info("download of " + quoted(shown_) + ": the server cannot resume, starting over");
            throw Restart{};
        }
        long code = 0;
        lib::curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &code);
        if (rc == CURLE_OK && code >= 200 && code < 300) {
            done_ = true;
            return;
        }
        bool transient = false;
        std::string why;
        std::string detail = errbuf_[0] ? std::string(errbuf_) : std::string(lib::curl_easy_strerror(rc));
        switch (rc) {
            case CURLE_OK: why = "HTTP " + std::to_string(code) + " from " + quoted(shown_); break;
            case CURLE_HTTP_RETURNED_ERROR:
                why = "HTTP " + std::to_string(code) + " from " + quoted(shown_);
                transient = code == 408 || code == 429 || code >= 500;
                break;
            case CURLE_PEER_FAILED_VERIFICATION: why = "TLS certificate of " + quoted(shown_) + " not trusted"; break;
            case CURLE_SSL_CACERT_BADFILE: why = "cannot use the CA file " + quoted(s_.ca_file) + " (DOWNLOAD_CA_FILE)"; break;
            case CURLE_UNSUPPORTED_PROTOCOL:
                // Any scheme but http(s) lands here too (file://, gopher://...): the reason
                // names the rule, not the one case of a downgrade to http.
                why = "redirect of " + quoted(shown_) + " to a refused protocol (" +
                      (scheme_of(url_) == "https" ? "from https, only to https" : "only http and https") + ")";
                break;
            case CURLE_TOO_MANY_REDIRECTS: why = "too many redirects from " + quoted(shown_); break;
            case CURLE_COULDNT_RESOLVE_HOST:
            case CURLE_COULDNT_RESOLVE_PROXY: why = "cannot resolve the host of " + quoted(shown_); break;
            case CURLE_COULDNT_CONNECT:
            case CURLE_OPERATION_TIMEDOUT:
            case CURLE_PARTIAL_FILE:
            case CURLE_RECV_ERROR:
            case CURLE_SEND_ERROR:
            case CURLE_GOT_NOTHING:
            case CURLE_HTTP2:
            case CURLE_HTTP2_STREAM:
            case CURLE_SSL_CONNECT_ERROR:
                why = "download of " + quoted(shown_) + " failed: " + lib::curl_easy_strerror(rc);
                transient = true;
                break;
            default: why = "download of " + quoted(shown_) + " failed: " + lib::curl_easy_strerror(rc);
        }
        if (attempt_bytes_ > 0) failures_ = 0;  // progress was made: a fresh budget
        if (!transient || failures_ >= s_.retries) {
            if (failures_ > 0) why += " (after " + std::to_string(failures_ + 1) + " attempts)";
            throw DriverError(why, detail);
        }
        double wait = std::min(30.0, s_.backoff * static_cast<double>(1u << std::min(failures_, 5)));
        ++failures_;
        log::info(fmt::format("{}; retry {} of {} in {:.0f} s{}", why, failures_, s_.retries, wait,
                              offset_ ? fmt::format(", resuming at byte {}", offset_) : std::string()));
        for (double until = now() + wait; now() < until;) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            check_interrupted();
        }
    }

    std::string url_, shown_;
    HttpSettings s_;
    std::string sigv4_, user_, pass_;
    CURL* easy_ = nullptr;
    CURLM* multi_ = nullptr;
    curl_slist* headers_ = nullptr;
    char errbuf_[CURL_ERROR_SIZE] = {};
    std::string buf_;
    size_t pos_ = 0;
    bool active_ = false, done_ = false, restart_ = false, ranged_ = false, first_chunk_ = true, paused_ = false;
    unsigned long long offset_ = 0, total_ = 0, attempt_bytes_ = 0, hdr_total_ = 0;
    std::string etag_, hdr_etag_;
    int failures_ = 0, restarts_ = 0;
};

// s3://bucket/key -> <endpoint>/bucket/key (path style), each key segment percent-encoded.
std::string s3_http_url(const std::string& url, const S3Credentials& c) {
    std::string rest = url.substr(5);
    auto slash = rest.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == rest.size())
        throw DriverError("bad S3 source " + quoted(url) + " (expected s3://BUCKET/KEY)");
    if (c.access_key.empty() || c.secret_key.empty() || c.region.empty())
        throw DriverError("S3 source " + quoted(url) + " needs a region, an access key and a secret key");
    std::string endpoint = c.endpoint.empty() ? "https://s3." + c.region + ".amazonaws.com" : c.endpoint;
    std::string es = scheme_of(endpoint);
    if (es != "http" && es != "https") throw DriverError("bad S3 endpoint " + quoted(endpoint));
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
    std::string out = endpoint + "/" + rest.substr(0, slash);
    std::string key = rest.substr(slash + 1);
    size_t i = 0;
    while (i <= key.size()) {
        size_t j = key.find('/', i);
        if (j == std::string::npos) j = key.size();
        char* e = lib::curl_easy_escape(nullptr, key.data() + i, static_cast<int>(j - i));
        out += "/" + std::string(e ? e : "");
        lib::curl_free(e);
        i = j + 1;
    }
    return out;
}

// ---- metering: hashes, counters, progress ----------------------------------------------

// The digests wanted (expected ones, or all three when asked): each costs a pass of CPU
// over the data (SHA256 ~0.5 GB/s), so none is computed for nothing.
class Hashes {
public:
    explicit Hashes(const bool want[3]) {
        for (int i = 0; i < 3; ++i) want_[i] = want[i];
        reset();
    }
    ~Hashes() {
        for (auto* c : ctx_)
            if (c) lib::EVP_MD_CTX_free(c);
    }
    Hashes(const Hashes&) = delete;
    Hashes& operator=(const Hashes&) = delete;
    void reset() {
        const EVP_MD* (*mds[3])() = {&lib::EVP_md5<>, &lib::EVP_sha1<>, &lib::EVP_sha256<>};
        for (int i = 0; i < 3; ++i) {
            if (!want_[i]) continue;
            if (!ctx_[i]) ctx_[i] = lib::EVP_MD_CTX_new();
            if (!ctx_[i] || lib::EVP_DigestInit_ex(ctx_[i], mds[i](), nullptr) != 1)
                throw DriverError("cannot initialise OpenSSL digests");
        }
    }
    void update(const char* p, size_t n) {
        for (auto* c : ctx_)
            if (c) lib::EVP_DigestUpdate(c, p, n);
    }
    std::string hex(int i) {  // "" when not computed
        if (!ctx_[i]) return "";
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        lib::EVP_DigestFinal_ex(ctx_[i], md, &len);
        static const char* d = "0123456789abcdef";
        std::string s;
        for (unsigned k = 0; k < len; ++k) {
            s += d[md[k] >> 4];
            s += d[md[k] & 15];
        }
        return s;
    }

private:
    bool want_[3] = {false, false, false};
    EVP_MD_CTX* ctx_[3] = {nullptr, nullptr, nullptr};
};

class Metered : public Reader {
public:
    Metered(Reader& up, Hashes& h, DownloadResult& r, const HttpSource* http, std::string shown, bool progress)
        : up_(up), h_(h), r_(r), http_(http), shown_(std::move(shown)), progress_(progress) {}
    size_t read(char* buf, size_t n) override {
        check_interrupted();
        size_t k = up_.read(buf, n);
        h_.update(buf, k);
        r_.bytes_in += k;
        if (progress_ && ticker_.due()) report();
        return k;
    }

private:
    void report() {
        unsigned long long total = http_ ? http_->total() : 0;
        std::string msg = log::progress_line("download of " + quoted(shown_), r_.bytes_in, total, ticker_.elapsed());
        if (r_.bytes_out != r_.bytes_in) msg += ", " + mib(r_.bytes_out) + " written";
        ticker_.show(msg, r_.bytes_in, total);
    }
    Reader& up_;
    Hashes& h_;
    DownloadResult& r_;
    const HttpSource* http_;
    std::string shown_;
    bool progress_;
    log::Ticker ticker_;
};

// ---- peeking, decompression, archives ----------------------------------------------------

// Reads up to `want` bytes ahead (for the magic checks), then hands them out first.
class Peek : public Reader {
public:
    Peek(Reader& up, size_t want) : up_(up) {
        head_.resize(want);
        size_t got = 0;
        while (got < want) {
            size_t k = up_.read(head_.data() + got, want - got);
            if (k == 0) break;
            got += k;
        }
        head_.resize(got);
    }
    const unsigned char* data() const { return reinterpret_cast<const unsigned char*>(head_.data()); }
    size_t size() const { return head_.size(); }
    size_t read(char* buf, size_t n) override {
        if (pos_ < head_.size()) {
            size_t k = std::min(n, head_.size() - pos_);
            std::memcpy(buf, head_.data() + pos_, k);
            pos_ += k;
            return k;
        }
        return up_.read(buf, n);
    }

private:
    Reader& up_;
    std::string head_;
    size_t pos_ = 0;
};

// One libarchive reader over `up`: either one compression filter with the raw format (a
// decompressor), or the tar or zip format alone (an unpacker of its single regular file).
// Exceptions thrown by `up` inside libarchive's callback are carried across the C code.
class ArchiveLayer : public Reader {
public:
    ArchiveLayer(Reader& up, const std::string& filter, const std::string& format, std::string shown)
        : up_(up), inbuf_(1 << 16), shown_(std::move(shown)), format_(format), filter_(filter) {
        a_ = lib::archive_read_new();
        if (!a_) throw DriverError("cannot initialise libarchive");
        // (a constructor that throws runs no destructor: the reader is freed here then)
        try {
            open(filter, format);
        } catch (...) {
            lib::archive_read_free(a_);
            throw;
        }
    }
    ~ArchiveLayer() override { lib::archive_read_free(a_); }
    ArchiveLayer(const ArchiveLayer&) = delete;
    ArchiveLayer& operator=(const ArchiveLayer&) = delete;

    size_t read(char* buf, size_t n) override {
        if (eof_) return 0;
        la_ssize_t k = lib::archive_read_data(a_, buf, n);
        if (k < 0) fail();
        if (k == 0) {
            eof_ = true;
            if (format_ != "raw") {  // exactly one member: the next header must be the end
                archive_entry* e = nullptr;
                int rc = lib::archive_read_next_header(a_, &e);
                if (rc == ARCHIVE_OK || rc == ARCHIVE_WARN)
                    throw DriverError("the " + format_ + " archive " + quoted(shown_) + " holds more than one file");
                if (rc != ARCHIVE_EOF) fail();
            }
        }
        return static_cast<size_t>(k);
    }

private:
    void open(const std::string& filter, const std::string& format) {
        int rc = ARCHIVE_OK;
        // In-process libraries only: a fallback to an external program is refused (WARN).
        if (filter == "gzip")
            rc = lib::archive_read_support_filter_gzip(a_);
        else if (filter == "bzip2")
            rc = lib::archive_read_support_filter_bzip2(a_);
        else if (filter == "xz")
            rc = lib::archive_read_support_filter_xz(a_);
        else if (filter == "zstd")
            rc = lib::archive_read_support_filter_zstd(a_);
        if (rc != ARCHIVE_OK) throw DriverError("no built-in " + filter + " decompressor in libarchive");
        if (format == "tar")
            rc = lib::archive_read_support_format_tar(a_);
        else if (format == "zip")
            rc = lib::archive_read_support_format_zip_streamable(a_);
        else
            rc = lib::archive_read_support_format_raw(a_);
        if (rc != ARCHIVE_OK) throw DriverError("libarchive cannot read " + format);
        if (lib::archive_read_open(a_, this, nullptr, &ArchiveLayer::on_read, nullptr) != ARCHIVE_OK) fail();
        archive_entry* e = nullptr;
        rc = lib::archive_read_next_header(a_, &e);
        if (rc == ARCHIVE_EOF) {
            if (format != "raw") throw DriverError("the " + format + " archive " + quoted(shown_) + " holds no file");
            eof_ = true;
            return;
        }
        if (rc < ARCHIVE_WARN) fail();
        if (format != "raw") check_member(e);
    }
    void check_member(archive_entry* e) {
        // The member's name is never used: only its type and its bytes matter.
        if (lib::archive_entry_filetype(e) != AE_IFREG || lib::archive_entry_hardlink(e))
            throw DriverError("the " + format_ + " archive " + quoted(shown_) + " must hold one regular file, not " +
                              (lib::archive_entry_filetype(e) == AE_IFDIR ? "a directory" : "a link or special file"));
        if (lib::archive_entry_is_encrypted(e))
            throw DriverError("the " + format_ + " archive " + quoted(shown_) + " is encrypted");
    }
    [[noreturn]] void fail() {
        if (err_) std::rethrow_exception(err_);
        const char* m = lib::archive_error_string(a_);
        std::string what = format_ == "raw" ? "cannot decompress the " + filter_ + " data of " + quoted(shown_)
                                            : "cannot unpack the " + format_ + " archive " + quoted(shown_);
        throw DriverError(what + ": " + (m ? m : "unknown error"));
    }
    static la_ssize_t on_read(archive*, void* self_, const void** buf) {
        auto* self = static_cast<ArchiveLayer*>(self_);
        try {
            size_t k = self->up_.read(self->inbuf_.data(), self->inbuf_.size());
            *buf = self->inbuf_.data();
            return static_cast<la_ssize_t>(k);
        } catch (...) {
            self->err_ = std::current_exception();
            return ARCHIVE_FATAL;
        }
    }

    Reader& up_;
    std::vector<char> inbuf_;
    std::string shown_, format_, filter_;
    archive* a_ = nullptr;
    bool eof_ = false;
    std::exception_ptr err_;
};

// gzip, the common case, with zlib itself: libarchive (and the dozen libraries it pulls
// in) is loaded only for the other compressions and for archives. Members of a
// multi-member file follow each other, as gunzip reads them; a truncated stream is an error.
class GzipLayer : public Reader {
public:
    GzipLayer(Reader& up, std::string shown) : up_(up), inbuf_(1 << 16), shown_(std::move(shown)) {
        if (lib::inflateInit2_(&zs_, 15 + 16, ZLIB_VERSION, static_cast<int>(sizeof zs_)) != Z_OK)
            throw DriverError("cannot initialise zlib");
    }
    ~GzipLayer() override { lib::inflateEnd(&zs_); }
    GzipLayer(const GzipLayer&) = delete;
    GzipLayer& operator=(const GzipLayer&) = delete;

    size_t read(char* out, size_t n) override {
        for (;;) {
            if (zs_.avail_in == 0 && !eof_) {
                size_t k = up_.read(inbuf_.data(), inbuf_.size());
                if (k == 0) eof_ = true;
                zs_.next_in = reinterpret_cast<Bytef*>(inbuf_.data());
                zs_.avail_in = static_cast<uInt>(k);
            }
            if (member_end_) {
                if (zs_.avail_in == 0 && eof_) return 0;
                if (zs_.avail_in == 0) continue;
                lib::inflateReset(&zs_);  // another member follows
                member_end_ = false;
            }
            zs_.next_out = reinterpret_cast<Bytef*>(out);
            zs_.avail_out = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
            int rc = lib::inflate(&zs_, Z_NO_FLUSH);
            size_t got = std::min<size_t>(n, 1u << 30) - zs_.avail_out;
            if (rc == Z_STREAM_END)
                member_end_ = true;
            else if (rc == Z_BUF_ERROR && eof_ && zs_.avail_in == 0)
                throw DriverError("cannot decompress the gzip data of " + quoted(shown_) + ": truncated");
            else if (rc != Z_OK && rc != Z_BUF_ERROR)
                throw DriverError("cannot decompress the gzip data of " + quoted(shown_) + ": " +
                                  (zs_.msg ? zs_.msg : "corrupt data"));
            if (got) return got;
        }
    }

private:
    Reader& up_;
    std::vector<char> inbuf_;
    std::string shown_;
    z_stream zs_{};
    bool eof_ = false, member_end_ = false;
};

std::string check_hex(const std::string& v, size_t len, const char* name) {
    std::string s = lower(v);
    if (s.size() != len || s.find_first_not_of("0123456789abcdef") != std::string::npos)
        throw DriverError(std::string("bad ") + name + " " + quoted(v) + " (expected " + std::to_string(len) + " hex digits)");
    return s;
}

// One attempt of the whole pipeline, from byte 0 of the source.
void run_once(const DownloadOptions& o, Reader& src, const HttpSource* http, const std::string& shown, Hashes& h, SparseWriter& w,
              DownloadResult& r) {
    Metered metered(src, h, r, http, shown, o.progress);
    Reader* cur = &metered;
    std::unique_ptr<Peek> p1, p2;
    std::unique_ptr<Reader> dec;
    std::unique_ptr<ArchiveLayer> unpack;
    if (!o.no_decompress) {
        p1 = std::make_unique<Peek>(metered, 8);
        r.compression = detect_compression(p1->data(), p1->size());
        cur = p1.get();
        if (!r.compression.empty()) {
            if (r.compression == "gzip")
                dec = std::make_unique<GzipLayer>(*p1, shown);
            else
                dec = std::make_unique<ArchiveLayer>(*p1, r.compression, "raw", shown);
            cur = dec.get();
        }
        p2 = std::make_unique<Peek>(*cur, 512);
        r.archive = detect_archive(p2->data(), p2->size());
        cur = p2.get();
        if (!r.archive.empty()) {
            unpack = std::make_unique<ArchiveLayer>(*p2, "", r.archive, shown);
            cur = unpack.get();
        }
    }
    std::vector<char> buf(1 << 17);
    for (;;) {
        size_t k = cur->read(buf.data(), buf.size());
        if (o.head && w.size() + k >= o.head) {  // the header asked for: enough
            w.write(buf.data(), o.head - w.size());
            r.bytes_out = w.size();
            break;
        }
        if (k == 0) break;
        if (o.limit && w.size() + k > o.limit)
            throw DriverError("download of " + quoted(shown) + " stopped at " + o.limit_name + " (" + std::to_string(o.limit) +
                              " bytes)");
        w.write(buf.data(), k);
        r.bytes_out = w.size();
    }
}

// The source of o: the local fd, or an http(s):// or s3:// download (then also `http`).
std::unique_ptr<Reader> make_source(const DownloadOptions& o, const std::string& shown, const HttpSource*& http) {
    if (o.local_fd) return std::make_unique<FdSource>(*o.local_fd, shown);
    std::string sc = scheme_of(o.url);
    HttpSettings s = o.http ? *o.http : HttpSettings::from_config(config());
    std::unique_ptr<HttpSource> h;
    if (sc == "http" || sc == "https")
        h = std::make_unique<HttpSource>(o.url, shown, s, nullptr);
    else if (sc == "s3")
        h = std::make_unique<HttpSource>(s3_http_url(o.url, o.s3), shown, s, &o.s3);
    else
        throw DriverError("unsupported download source " + quoted(shown) + " (http://, https:// or s3://)");
    http = h.get();
    return h;
}

}  // namespace

DownloadResult download_to_sink(const DownloadOptions& o, const std::function<void(const char*, size_t)>& sink) {
    std::string shown = display_url(o.url);
    const HttpSource* http = nullptr;
    std::unique_ptr<Reader> src = make_source(o, shown, http);
    const bool none[3] = {false, false, false};
    Hashes h(none);
    DownloadResult r;
    Metered in(*src, h, r, http, shown, o.progress);
    std::vector<char> buf(1 << 17);
    try {
        while (size_t k = in.read(buf.data(), buf.size())) {
            sink(buf.data(), k);
            r.bytes_out = r.bytes_in;
        }
    } catch (const Restart&) {
        throw DriverError("download of " + quoted(shown) + " broke off and the server ignored the request to resume it");
    }
    if (http) r.total_in = http->total();
    return r;
}

HttpSettings HttpSettings::from_config(const Config& c) {
    HttpSettings s;
    s.ca_file = c.get("DOWNLOAD_CA_FILE");
    s.proxy = c.get("DOWNLOAD_PROXY");
    s.retries = static_cast<int>(std::clamp(c.get_int("DOWNLOAD_RETRIES"), 0L, 100L));
    s.connect_timeout = std::clamp(c.get_int("DOWNLOAD_CONNECT_TIMEOUT"), 1L, 3600L);
    s.low_speed_time = std::clamp(c.get_int("DOWNLOAD_LOW_SPEED_TIME"), 1L, 3600L);
    s.rate = stream::parse_rate(c.get("LIMIT_TRANSFER_BW"));
    return s;
}

Limit limit_for(const Config& c, unsigned long long free_bytes) {
    Limit l{free_bytes, "the free space of the datastore"};
    unsigned long long max = stream::parse_rate(c.get("MAX_DOWNLOAD_SIZE"));
    if (max && max < l.bytes) l = {max, "MAX_DOWNLOAD_SIZE"};
    return l;
}

bool is_remote_url(const std::string& s) {
    std::string sc = scheme_of(s);
    return sc == "http" || sc == "https" || sc == "s3";
}

std::string display_url(const std::string& url) {
    std::string u = url.substr(0, url.find_first_of("?#"));
    auto p = u.find("://");
    if (p != std::string::npos) {
        auto host_end = u.find('/', p + 3);
        auto at = u.rfind('@', host_end == std::string::npos ? u.size() : host_end);
        if (at != std::string::npos && at > p) u.erase(p + 3, at + 1 - (p + 3));
    }
    for (auto& c : u)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return u;
}

std::string detect_compression(const unsigned char* p, size_t n) {
    auto is = [&](std::initializer_list<unsigned char> m) { return n >= m.size() && std::equal(m.begin(), m.end(), p); };
    if (is({0x1f, 0x8b})) return "gzip";
    if (is({'B', 'Z', 'h'}) && n >= 4 && p[3] >= '1' && p[3] <= '9') return "bzip2";
    if (is({0xfd, '7', 'z', 'X', 'Z', 0x00})) return "xz";
    if (is({0x28, 0xb5, 0x2f, 0xfd})) return "zstd";
    return "";
}

std::string detect_archive(const unsigned char* p, size_t n) {
    if (n >= 4 && p[0] == 'P' && p[1] == 'K' && p[2] == 3 && p[3] == 4) return "zip";
    if (n >= 512 && std::memcmp(p + 257, "ustar", 5) == 0) {
        // The header checksum (octal at 148, the field itself counted as spaces) must agree.
        unsigned long sum = 0;
        for (size_t i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : p[i];
        unsigned long want = 0;
        size_t i = 148;
        while (i < 156 && p[i] == ' ') ++i;
        if (i == 156 || p[i] < '0' || p[i] > '7') return "";
        for (; i < 156 && p[i] >= '0' && p[i] <= '7'; ++i) want = want * 8 + static_cast<unsigned long>(p[i] - '0');
        if (sum == want) return "tar";
    }
    return "";
}

DownloadResult download_to_fd(const DownloadOptions& o, int out_fd) {
    SparseWriter w(out_fd);
    DownloadResult r = download_to(o, w);
    struct stat st {};
    if (!o.head && ::fstat(out_fd, &st) == 0) r.allocated = static_cast<unsigned long long>(st.st_blocks) * 512;
    return r;
}

DownloadResult download_to(const DownloadOptions& o, SparseWriter& w) {
    std::string shown = display_url(o.url);
    std::string md5 = o.md5.empty() ? "" : check_hex(o.md5, 32, "MD5");
    std::string sha1 = o.sha1.empty() ? "" : check_hex(o.sha1, 40, "SHA1");
    std::string sha256 = o.sha256.empty() ? "" : check_hex(o.sha256, 64, "SHA256");

    const HttpSource* http = nullptr;
    std::unique_ptr<Reader> src = make_source(o, shown, http);
    const bool want[3] = {o.all_digests || !md5.empty(), o.all_digests || !sha1.empty(), o.all_digests || !sha256.empty()};
    Hashes h(want);
    DownloadResult r;
    for (;;) {
        try {
            run_once(o, *src, http, shown, h, w, r);
            break;
        } catch (const Restart&) {
            h.reset();
            w.reset();
            r = DownloadResult{};
        }
    }
    w.finish();
    if (http) r.total_in = http->total();
    if (o.head) return r;
    r.md5 = h.hex(0);
    r.sha1 = h.hex(1);
    r.sha256 = h.hex(2);
    auto check = [&](const char* name, const std::string& want, const std::string& got) {
        if (!want.empty() && want != got)
            throw DriverError(std::string("checksum mismatch: ") + name + " of " + quoted(shown) + " is " + got + ", expected " +
                              want);
    };
    check("MD5", md5, r.md5);
    check("SHA1", sha1, r.sha1);
    check("SHA256", sha256, r.sha256);
    if (o.progress && r.bytes_in >= (64ull << 20))
        log::info("download of " + quoted(shown) + ": done, " + mib(r.bytes_in) + " received, " + mib(r.bytes_out) + " written");
    return r;
}

}  // namespace onestor::download
