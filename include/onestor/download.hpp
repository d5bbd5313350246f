// Images from anywhere (issue 13): one streaming pipeline, in constant memory,
//
//   source (http(s):// and s3:// with libcurl, or an open local fd)
//     -> checksums of the bytes as served (MD5 and SHA1 like upstream's template
//        attributes, plus SHA256; OpenSSL EVP)
//     -> decompression (gzip, bzip2, xz, zstd: told by their magic bytes; libarchive)
//     -> unpacking of a tar or zip archive holding exactly one regular file (libarchive)
//     -> a size limit on the bytes produced (a bomb stops at the limit)
//     -> a sparse writer (runs of zero blocks become holes) into the caller's fd.
//
// The caller owns the file: it passes a new, empty fd (io::TempFile) and commits it only
// when download_to_fd returned, so a failed or refused download leaves nothing under the
// final name. Errors are DriverError with a one-line reason naming the URL without its
// credentials or query string.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace onestor {
class Config;
}

namespace onestor::download {

struct S3Credentials {
    std::string endpoint;  // e.g. https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:7480
    std::string region;    // e.g. eu-west-1
    std::string access_key, secret_key;
};

// Transport settings; from_config reads DOWNLOAD_CA_FILE, DOWNLOAD_PROXY, DOWNLOAD_RETRIES,
// DOWNLOAD_CONNECT_TIMEOUT, DOWNLOAD_LOW_SPEED_TIME and LIMIT_TRANSFER_BW.
struct HttpSettings {
    std::string ca_file;          // empty: the system CAs
    std::string proxy;            // empty: libcurl's default (the *_proxy environment)
    int retries = 5;              // further attempts after a transient failure
    long connect_timeout = 30;    // seconds
    long low_speed_time = 60;     // seconds below 1 KiB/s before the attempt is abandoned
    unsigned long long rate = 0;  // bytes/s, 0: no cap
    double backoff = 1.0;         // seconds before the first retry, doubled each time (max 30)
    static HttpSettings from_config(const Config& c);
};

struct DownloadOptions {
    std::string url;                            // http://, https://, s3://bucket/key, or a label for local_fd
    std::optional<int> local_fd;                // a local source, already opened by the caller (read from its offset)
    bool no_decompress = false;                 // NO_DECOMPRESS=yes: the bytes as served
    unsigned long long limit = 0;               // most bytes the result may have (0: none)
    std::string limit_name = "the size limit";  // named in the error, e.g. "MAX_DOWNLOAD_SIZE"
    std::string md5, sha1, sha256;              // expected digests of the bytes as served; empty: not checked
    bool all_digests = false;                   // compute all three (else only the expected ones)
    S3Credentials s3;
    std::optional<HttpSettings> http;  // empty: HttpSettings::from_config(config())
    bool progress = true;              // INFO: lines every ~5 s on long downloads
    unsigned long long head = 0;       // >0: stop quietly after this many result bytes (a header
                                       // for DS stat); the digests are then not checked
};

struct DownloadResult {
    unsigned long long bytes_in = 0;   // bytes as served (what the checksums cover)
    unsigned long long bytes_out = 0;  // size of the result (after decompression/unpacking)
    unsigned long long allocated = 0;  // bytes the result occupies on disk (holes excluded)
    unsigned long long total_in = 0;   // size of the source as announced (Content-Length), 0: unknown
    std::string md5, sha1, sha256;     // lower-case hex of the bytes as served ("": not computed)
    std::string compression;           // "", "gzip", "bzip2", "xz", "zstd"
    std::string archive;               // "", "tar", "zip"
};

class SparseWriter;
// Streams the source into out_fd (a new empty regular file) and returns what it did.
DownloadResult download_to_fd(const DownloadOptions& opts, int out_fd);
// The same into w, finished (its size given) before the checksums are verified: a caller
// commits the result only when this returned.
DownloadResult download_to(const DownloadOptions& opts, SparseWriter& w);

// The source's bytes as served, to `sink` in order: no decompression, checksum or limit
// (the host it is streamed to does those). A download that breaks off resumes where it
// stopped; a server that ignores Range then is an error (the bytes given are gone).
DownloadResult download_to_sink(const DownloadOptions& o, const std::function<void(const char*, size_t)>& sink);

// The limit for a download into a datastore with `free_bytes` available: the smaller of
// that and MAX_DOWNLOAD_SIZE (if set), and its name for the error message.
struct Limit {
    unsigned long long bytes;
    std::string name;
};
Limit limit_for(const Config& c, unsigned long long free_bytes);

// True for the URL forms download_to_fd fetches itself (http://, https://, s3://).
bool is_remote_url(const std::string& s);

// The URL as messages show it: no user:password@, no ?query (signatures), no #fragment.
std::string display_url(const std::string& url);

// Magic-byte checks (exposed for tests). detect_compression: "", "gzip", "bzip2", "xz",
// "zstd". detect_archive looks at the first 512 bytes of the decompressed stream: "", "tar"
// (a ustar header with a valid checksum; an all-zero block is NOT taken for an empty tar,
// which is how most raw disks begin) or "zip" (a local file header).
std::string detect_compression(const unsigned char* p, size_t n);
std::string detect_archive(const unsigned char* p, size_t n);

// Where a SparseWriter puts a stream: its runs of data (whole non-zero 4 KiB blocks, and the
// tail) at their offsets in increasing order, then its size; restart: back to empty.
class RunSink {
public:
    virtual ~RunSink() = default;
    virtual void run(unsigned long long offset, const char* p, size_t n) = 0;
    virtual void size(unsigned long long n) = 0;
    virtual void restart() = 0;
};

// Writes a stream at increasing offsets into fd (or a RunSink), leaving holes where whole
// 4 KiB blocks are zero; finish() sets the file's size. Memory: one fixed buffer.
class SparseWriter {
public:
    explicit SparseWriter(int fd);
    explicit SparseWriter(RunSink& out);
    ~SparseWriter();
    SparseWriter(const SparseWriter&) = delete;
    SparseWriter& operator=(const SparseWriter&) = delete;
    void write(const char* p, size_t n);
    void finish();  // flush, ftruncate to the size written
    void reset();   // back to an empty file (a restarted download)
    unsigned long long size() const { return size_; }

private:
    void flush();
    std::unique_ptr<RunSink> own_;  // the fd's
    RunSink& out_;
    std::string buf_;  // pending bytes starting at offset base_
    unsigned long long base_ = 0, size_ = 0;
};

// `onestor fetch URL|PATH OUT [options]` (src/tools/fetch_command.cpp): words[0] is "fetch";
// prints the byte counts and digests. For tests and benchmarks.
int fetch_command(const std::vector<std::string>& words, std::string& out);

}  // namespace onestor::download
