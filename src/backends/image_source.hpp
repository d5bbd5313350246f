// Where DS cp reads a new image from (issue 13): a local file (the datastore's path policy
// applies, checked by the caller), or a remote source fetched by the download pipeline
// (http://, https://, s3://), with the checks the image and datastore templates ask for.
#pragma once
#include "onestor/download.hpp"
#include "onestor/xml.hpp"

#include <functional>
#include <string>

namespace onestor::backends::image_source {

// PATH names a remote source: http://, https://, s3://, or a file on a host reached with
// ssh, ssh://HOST:/PATH or HOST:/PATH (the datastore's path policy applies to the file's
// canonical path on that host, as to a local file).
bool remote(const std::string& path);

// The download of the image of `d` as its templates ask: MD5/SHA1 (as upstream) and SHA256
// of the bytes as served, the datastore's NO_DECOMPRESS (yes by default for a FILE
// datastore, as upstream) and LIMIT_TRANSFER_BW (else the setting), S3 endpoint, region
// and keys taken together from the first place holding keys: the image template, the
// marketplace's, the datastore's, the settings (S3_*), so keys never go to an endpoint
// another place named.
download::DownloadOptions options(const DsDump& d);

// Fills out_fd, a new temporary file beside the image's final name, from the image's
// PATH: a remote source, or local_fd (the opened local file). A local file is copied as
// it is (holes kept, reflinked where the filesystem can) unless it must be checked or
// unpacked (a checksum to verify; gzip/bzip2/xz/zstd, tar or zip, without NO_DECOMPRESS):
// then it goes through the pipeline too. The result may not grow past the free space of
// out_fd's filesystem nor MAX_DOWNLOAD_SIZE. Nothing is committed here.
void fill(const DsDump& d, int local_fd, int out_fd);
// Whether the local file must go through the pipeline: a checksum to verify, or packed
// (without NO_DECOMPRESS).
bool must_check(const DsDump& d, int local_fd);
// fill() into w (e.g. an rbd diff stream), always through the pipeline: the source checked
// now (an ssh source's path policy on its host), read by the function returned, the result
// at most l; w finished and the checksums verified when that returns.
std::function<void(download::SparseWriter& w, const download::Limit& l)> fill_into(const DsDump& d, int local_fd);

// Where stream_raw puts an image: its bytes in order, runs of holes (a local file's) apart.
class RawSink {
public:
    virtual ~RawSink() = default;
    virtual void data(const char* p, size_t n) = 0;
    virtual void hole(unsigned long long n) = 0;
};

// The image's PATH as it is served, unchecked and unpacked (for a BRIDGE_LIST host, which
// runs the pipeline itself with fill_from): local_fd (holes found with SEEK_DATA, never
// read), a download, or an ssh source (its path policy applied here).
void stream_raw(const DsDump& d, int local_fd, RawSink& sink);
// fill() from in_fd, a stream of the image as served: always through the pipeline.
void fill_from(const DsDump& d, int in_fd, int out_fd);

// DS stat of a remote source: the image's virtual size in bytes, from the header of the
// result (its first MiB, decompressed, fetched and thrown away); a raw image's size is
// the announced length of an uncompressed source (a compressed raw image cannot be sized
// without the whole download, which stat does not do, as upstream).
unsigned long long remote_size(const DsDump& d);

// A context file from an http(s):// URL into out_fd (new, empty): the bytes as served (no
// decompression, as upstream's wget), at most the free space of out_fd's filesystem and
// MAX_DOWNLOAD_SIZE, transport as the settings say.
void fetch_file(const std::string& url, int out_fd);

}  // namespace onestor::backends::image_source
