// `onestor fetch`: the download pipeline end to end from the shell, without a datastore
// (the download suites and `scripts/bench.sh download` drive it). Hidden from --help.
#include "onestor/config.hpp"
#include "onestor/download.hpp"
#include "onestor/error.hpp"
#include "onestor/io.hpp"
#include "onestor/paths.hpp"
#include "onestor/stream.hpp"

#include <sys/statvfs.h>
#include <cstdlib>

namespace onestor::download {

//   onestor fetch URL|PATH OUT [--md5 X] [--sha1 X] [--sha256 X] [--digests] [--limit N] [--no-decompress]
//                 [--s3-endpoint URL --s3-region R]   (keys: $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY)
int fetch_command(const std::vector<std::string>& w, std::string& out) {
    const char* usage =
        "usage: onestor fetch URL OUT [--md5 X] [--sha1 X] [--sha256 X] [--digests] [--limit N] [--no-decompress]";
    if (w.size() < 3) throw DriverError(usage);
    download::DownloadOptions o;
    o.url = w[1];
    std::string dst = clean_path(w[2], "path");
    bool limit_set = false;
    for (size_t i = 3; i < w.size(); ++i) {
        auto val = [&]() -> const std::string& {
            if (i + 1 >= w.size()) throw DriverError(usage);
            return w[++i];
        };
        if (w[i] == "--md5")
            o.md5 = val();
        else if (w[i] == "--sha1")
            o.sha1 = val();
        else if (w[i] == "--sha256")
            o.sha256 = val();
        else if (w[i] == "--no-decompress")
            o.no_decompress = true;
        else if (w[i] == "--digests")
            o.all_digests = true;
        else if (w[i] == "--s3-endpoint")
            o.s3.endpoint = val();
        else if (w[i] == "--s3-region")
            o.s3.region = val();
        else if (w[i] == "--limit") {
            o.limit = stream::parse_rate(val());
            o.limit_name = "--limit";
            limit_set = true;
        } else
            throw DriverError(usage);
    }
    // S3 keys from the environment, never on a command line that ps shows.
    for (auto [var, field] : {std::pair{"AWS_ACCESS_KEY_ID", &o.s3.access_key}, {"AWS_SECRET_ACCESS_KEY", &o.s3.secret_key}})
        if (const char* v = std::getenv(var)) *field = v;
    io::File in;
    if (!download::is_remote_url(o.url)) {
        in = io::open_read(clean_path(o.url, "path"));
        o.local_fd = in.fd();
    }
    io::TempFile t(dst, 0644);
    if (!limit_set) {
        struct statvfs sv {};
        if (::fstatvfs(t.fd(), &sv) != 0) throw_errno("cannot stat the filesystem of", dst);
        auto l = download::limit_for(config(), static_cast<unsigned long long>(sv.f_bavail) * sv.f_frsize);
        o.limit = l.bytes;
        o.limit_name = l.name;
    }
    download::DownloadResult r = download::download_to_fd(o, t.fd());
    t.commit(true);
    out = "bytes_in " + std::to_string(r.bytes_in) + "\nbytes_out " + std::to_string(r.bytes_out) + "\nallocated " +
          std::to_string(r.allocated) + "\ncompression " + (r.compression.empty() ? "none" : r.compression) + "\narchive " +
          (r.archive.empty() ? "none" : r.archive) + "\nmd5 " + r.md5 + "\nsha1 " + r.sha1 + "\nsha256 " + r.sha256 + "\n";
    return 0;
}

}  // namespace onestor::download
