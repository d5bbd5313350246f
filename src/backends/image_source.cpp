// See image_source.hpp.
#include "image_source.hpp"

#include "onestor/config.hpp"
#include "onestor/dry_run.hpp"
#include "onestor/error.hpp"
#include "onestor/exec.hpp"
#include "onestor/host.hpp"
#include "onestor/imgformat.hpp"
#include "onestor/io.hpp"
#include "onestor/log.hpp"
#include "onestor/paths.hpp"
#include "onestor/scripts.hpp"
#include "onestor/stream.hpp"

#include <fcntl.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <algorithm>
#include <exception>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

namespace onestor::backends::image_source {
namespace {

std::string tattr(const Attributes& a, const std::string& k) {
    auto it = a.find(k);
    return it == a.end() ? std::string{} : it->second;
}

bool yes(const std::string& v) {
    std::string s;
    for (char c : v) s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s == "yes";
}

// Endpoint, region and keys as one set, from the first place that holds keys.
download::S3Credentials s3_credentials(const DsDump& d) {
    using Get = std::function<std::string(const std::string&)>;
    const Attributes& it = d.image ? d.image->tmpl : Attributes{};
    const Get places[] = {
        [&](const std::string& k) { return tattr(it, k); },
        [&](const std::string& k) { return d.extra("MARKETPLACE/" + k); },
        [&](const std::string& k) { return d.datastore.attr(k); },
        [&](const std::string& k) { return config().get("S3_" + k); },
    };
    for (const Get& get : places) {
        if (get("ACCESS_KEY_ID").empty() && get("SECRET_ACCESS_KEY").empty()) continue;
        return {get("ENDPOINT"), get("REGION"), get("ACCESS_KEY_ID"), get("SECRET_ACCESS_KEY")};
    }
    return {};
}

unsigned long long free_bytes(int fd) {
    struct statvfs sv {};
    if (::fstatvfs(fd, &sv) != 0) throw_errno("cannot stat the filesystem of", "the datastore");
    return static_cast<unsigned long long>(sv.f_bavail) * sv.f_frsize;
}

// The pipeline into out_fd, the result at most the free space of its filesystem and
// MAX_DOWNLOAD_SIZE.
download::DownloadResult pipeline(download::DownloadOptions& o, int out_fd) {
    download::Limit l = download::limit_for(config(), free_bytes(out_fd));
    o.limit = l.bytes;
    o.limit_name = l.name;
    return download::download_to_fd(o, out_fd);
}

// ": N bytes in, M bytes out (A allocated), gzip, checksums verified" for the INFO line.
std::string summary(const download::DownloadOptions& o, const download::DownloadResult& r) {
    std::string how = r.compression.empty() ? "" : ", " + r.compression;
    if (!r.archive.empty()) how += ", from a " + r.archive + " archive";
    if (!o.md5.empty() || !o.sha1.empty() || !o.sha256.empty()) how += ", checksums verified";
    return fmt::format(": {} bytes in, {} bytes out ({} allocated){}", r.bytes_in, r.bytes_out, r.allocated, how);
}

// ssh://HOST:/PATH or HOST:/PATH (upstream's pseudo-URL, and scp's form): HOST a host
// name (Host::get checks it), PATH absolute and clean.
bool ssh_source(const std::string& src, std::string& host, std::string& file) {
    std::string rest = src;
    bool scheme = rest.size() > 6 && !strncasecmp(rest.c_str(), "ssh://", 6);
    if (scheme)
        rest = rest.substr(6);
    else if (src.find("://") != std::string::npos)
        return false;  // another scheme's URL
    auto colon = rest.find(':');
    if (colon == std::string::npos || colon == 0 || rest.find('/') < colon) {
        if (scheme) throw DriverError("bad ssh source " + quoted(src) + " (expected ssh://HOST:/PATH)");
        return false;
    }
    if (rest.compare(colon + 1, 1, "/") != 0) {
        if (scheme || rest.compare(colon + 1, 2, "//") == 0)
            throw DriverError("bad ssh source " + quoted(src) + " (the path must be absolute)");
        return false;
    }
    host = rest.substr(0, colon);
    file = clean_path(rest.substr(colon + 1), "image path");
    return true;
}

// The file of an ssh source, its canonical path on its host checked by the datastore's
// path policy (the refusal the same whether it exists or not).
std::string ssh_allowed(const DsDump& d, Host& h, const std::string& file, const std::string& shown) {
    PathPolicy policy(d.datastore.attr("RESTRICTED_DIRS"), d.datastore.attr("SAFE_DIRS"));
    policy.check(file, shown);
    return policy.resolve(file, [&](const std::string& p) { return h.realpath(p); });
}

// Reads a regular file of a host through a pipe: its `cat` runs on a thread (Host::run,
// the command an argv crossing ssh quoted once) while the pipeline reads the other end.
class SshReader {
public:
    SshReader(Host& h, const std::string& path, const std::string& shown) {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) throw_errno("cannot make a pipe for", shown);
        read_ = io::File(p[0]);
        io::File w(p[1]);
        worker_ = std::thread([this, &h, path, shown, w = std::move(w)]() mutable {
            try {
                RunOptions o;
                o.stdout_fd = w.fd();
                o.what = "cannot read " + quoted(shown);
                o.asks = true;
                h.run({"sh", "-c", scripts::kCatRegular, "sh", path}, o);
            } catch (...) {
                err_ = std::current_exception();
            }
        });
    }
    ~SshReader() { finish(false); }
    SshReader(const SshReader&) = delete;
    SshReader& operator=(const SshReader&) = delete;
    int fd() const { return read_.fd(); }
    // Waits for the remote side; with check, its failure (a short read is not a whole file)
    // is thrown. Without, the reading end is closed first so that it ends.
    void finish(bool check) {
        if (!check) read_ = io::File();
        if (worker_.joinable()) worker_.join();
        if (check && err_) std::rethrow_exception(std::exchange(err_, nullptr));
    }

private:
    io::File read_;
    std::thread worker_;
    std::exception_ptr err_;
};

}  // namespace

bool remote(const std::string& path) {
    std::string host, file;
    return download::is_remote_url(path) || ssh_source(path, host, file);
}

download::DownloadOptions options(const DsDump& d) {
    const Image& img = d.img();
    download::DownloadOptions o;
    o.url = img.path;
    o.md5 = tattr(img.tmpl, "MD5");
    o.sha1 = tattr(img.tmpl, "SHA1");
    o.sha256 = tattr(img.tmpl, "SHA256");
    std::string nd = d.datastore.attr("NO_DECOMPRESS");
    o.no_decompress = nd.empty() ? d.datastore.type == 2 : yes(nd);
    o.http = download::HttpSettings::from_config(config());
    std::string bw = d.datastore.attr("LIMIT_TRANSFER_BW");
    if (!bw.empty()) o.http->rate = stream::parse_rate(bw);
    if (img.path.size() > 5 && !strncasecmp(img.path.c_str(), "s3://", 5)) o.s3 = s3_credentials(d);
    return o;
}

namespace {

using Pipe = std::function<download::DownloadResult(download::DownloadOptions&)>;

// d's PATH, checked now (an ssh source's file resolved and allowed on its host: refused
// before anything is made), read by the function returned: through the download pipeline
// given to it (its options set up for the source), or, a local file that needs neither a
// check nor unpacking, by `plain` (when given).
std::function<void(const Pipe&)> source_of(const DsDump& d, int local_fd, const std::function<void()>& plain) {
    download::DownloadOptions o = options(d);
    std::string shown = download::display_url(o.url);
    std::string host, file;
    if (local_fd < 0 && ssh_source(o.url, host, file)) {
        Host& h = Host::get(host);
        std::string allowed = ssh_allowed(d, h, file, o.url);
        return [o, shown, host, file, allowed, &h](const Pipe& pipe) mutable {
            if (dry_run::skip("write the image from " + quoted(shown) + " into it")) return;
            SshReader in(h, allowed, o.url);
            o.local_fd = in.fd();
            download::DownloadResult r;
            try {
                r = pipe(o);
            } catch (...) {
                in.finish(false);
                throw;
            }
            in.finish(true);
            log::info("read " + quoted(file) + " from " + host + summary(o, r));
        };
    }
    return [o, shown, local_fd, plain, &d](const Pipe& pipe) mutable {
        if (dry_run::skip("write the image from " + quoted(shown) + " into it")) return;
        if (local_fd >= 0) {
            if (plain && !must_check(d, local_fd)) return plain();
            o.local_fd = local_fd;
        }
        download::DownloadResult r = pipe(o);
        log::info((local_fd >= 0 ? "read " : "downloaded ") + quoted(shown) + summary(o, r));
    };
}

}  // namespace

bool must_check(const DsDump& d, int local_fd) {
    download::DownloadOptions o = options(d);
    if (!o.md5.empty() || !o.sha1.empty() || !o.sha256.empty()) return true;
    unsigned char head[512];
    ssize_t n = ::pread(local_fd, head, sizeof head, 0);
    size_t k = n > 0 ? static_cast<size_t>(n) : 0;
    return !o.no_decompress && (!download::detect_compression(head, k).empty() || !download::detect_archive(head, k).empty());
}

void fill(const DsDump& d, int local_fd, int out_fd) {
    source_of(d, local_fd, [&] {
        io::CopyStats cs = io::copy_fd(local_fd, out_fd, quoted(download::display_url(d.img().path)));
        log::info("copied " + std::to_string(cs.data >> 20) + " MiB of data (" + std::to_string(cs.size >> 20) +
                  " MiB apparent)" + (cs.reflinked ? ", reflinked" : ""));
    })([&](download::DownloadOptions& o) { return pipeline(o, out_fd); });
}

std::function<void(download::SparseWriter&, const download::Limit&)> fill_into(const DsDump& d, int local_fd) {
    return [read = source_of(d, local_fd, {})](download::SparseWriter& w, const download::Limit& l) {
        read([&](download::DownloadOptions& o) {
            o.limit = l.bytes;
            o.limit_name = l.name;
            return download::download_to(o, w);
        });
    };
}

void stream_raw(const DsDump& d, int local_fd, RawSink& sink) {
    download::DownloadOptions o = options(d);
    std::string host, file;
    auto pump = [&](int fd, const std::string& shown) {
        std::vector<char> buf(1 << 17);
        for (;;) {
            ssize_t k = ::read(fd, buf.data(), buf.size());
            if (k == 0) return;
            if (k < 0 && errno != EINTR) throw_errno("cannot read", shown);
            if (k > 0) sink.data(buf.data(), static_cast<size_t>(k));
            check_interrupted();
        }
    };
    if (local_fd >= 0) {  // data extents only: a hole is a count, never read
        struct stat st {};
        if (::fstat(local_fd, &st) != 0) throw_errno("cannot stat", o.url);
        std::vector<char> buf(1 << 17);
        off_t pos = 0, end = st.st_size;
        while (pos < end) {
            off_t data = ::lseek(local_fd, pos, SEEK_DATA);
            if (data < 0) data = errno == ENXIO ? end : pos;  // ENXIO: only a hole is left
            if (data > pos) sink.hole(static_cast<unsigned long long>(data - pos));
            if (data >= end) break;
            off_t hole = ::lseek(local_fd, data, SEEK_HOLE);
            if (hole < 0 || hole > end) hole = end;
            for (off_t off = data; off < hole;) {
                ssize_t k = ::pread(local_fd, buf.data(), static_cast<size_t>(std::min<off_t>(hole - off, 1 << 17)), off);
                if (k < 0 && errno == EINTR) continue;
                if (k < 0) throw_errno("cannot read", o.url);
                if (k == 0) throw DriverError(quoted(o.url) + " shrank while it was read");
                sink.data(buf.data(), static_cast<size_t>(k));
                off += k;
                check_interrupted();
            }
            pos = hole;
        }
    } else if (ssh_source(o.url, host, file)) {
        Host& h = Host::get(host);
        SshReader in(h, ssh_allowed(d, h, file, o.url), o.url);
        try {
            pump(in.fd(), o.url);
        } catch (...) {
            in.finish(false);
            throw;
        }
        in.finish(true);
    } else {
        download::DownloadResult r = download::download_to_sink(o, [&](const char* p, size_t n) { sink.data(p, n); });
        log::info(fmt::format("downloaded {}: {} bytes", quoted(download::display_url(o.url)), r.bytes_in));
    }
}

void fill_from(const DsDump& d, int in_fd, int out_fd) {
    download::DownloadOptions o = options(d);
    o.local_fd = in_fd;
    download::DownloadResult r = pipeline(o, out_fd);
    log::info("received " + quoted(download::display_url(o.url)) + summary(o, r));
}

void fetch_file(const std::string& url, int out_fd) {
    std::string scheme = url.substr(0, url.find("://"));
    if (strcasecmp(scheme.c_str(), "http") != 0 && strcasecmp(scheme.c_str(), "https") != 0)
        throw DriverError("context file " + quoted(download::display_url(url)) + ": only http:// and https:// are downloaded");
    download::DownloadOptions o;
    o.url = url;
    o.no_decompress = true;
    download::Limit l = download::limit_for(config(), free_bytes(out_fd));
    o.limit = l.bytes;
    o.limit_name = l.name;
    download::DownloadResult r = download::download_to_fd(o, out_fd);
    log::info(fmt::format("downloaded {}: {} bytes", quoted(download::display_url(url)), r.bytes_out));
}

unsigned long long remote_size(const DsDump& d) {
    std::string host, file;
    if (ssh_source(d.img().path, host, file)) {
        Host& h = Host::get(host);
        return imgformat::decide_path(h, ssh_allowed(d, h, file, d.img().path)).virtual_size;
    }
    download::DownloadOptions o = options(d);
    o.md5.clear(), o.sha1.clear(), o.sha256.clear();
    o.progress = false;
    o.head = 4ull << 20;  // the headers of qcow2, vmdk, vdi and vhdx (its metadata region) lie within
    io::File mem(::memfd_create("onestor-stat", MFD_CLOEXEC));
    if (!mem) throw_errno("cannot create a memory file", "memfd");
    download::DownloadResult r = download::download_to_fd(o, mem.fd());
    bool whole = r.bytes_out < o.head;  // the whole image arrived
    bool plain = r.compression.empty() && r.archive.empty();
    unsigned long long size = whole ? r.bytes_out : plain ? r.total_in : 0;
    int fd = mem.fd();
    imgformat::Image i = imgformat::decide(
        [fd](unsigned char* buf, size_t n, unsigned long long off) {
            ssize_t k = ::pread(fd, buf, n, static_cast<off_t>(off));
            return k > 0 ? static_cast<size_t>(k) : size_t{0};
        },
        size ? size : imgformat::kMaxVirtualSize, download::display_url(o.url));
    if (i.format != "raw") return i.virtual_size;
    if (!size)
        throw DriverError("cannot tell the size of " + quoted(download::display_url(o.url)) +
                          ": a compressed raw image (or a server that announces no length) is sized only by downloading it");
    return size;
}

}  // namespace onestor::backends::image_source
