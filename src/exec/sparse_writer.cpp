// The sparse writer of the download pipeline: a stream of unknown length becomes a file
// whose all-zero 4 KiB blocks are holes. The buffer is flushed only when full (a multiple
// of the block size) or at the end, so blocks stay aligned to file offsets.
#include "onestor/download.hpp"
#include "onestor/error.hpp"

#include <unistd.h>
#include <cstring>

namespace onestor::download {
namespace {

constexpr size_t kBlock = 4096;
constexpr size_t kBuffer = 256 << 10;

bool all_zero(const char* p, size_t n) { return n == 0 || (p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0); }

void pwrite_all(int fd, const char* p, size_t n, unsigned long long off) {
    while (n > 0) {
        ssize_t k = ::pwrite(fd, p, n, static_cast<off_t>(off));
        if (k < 0) {
            if (errno == EINTR) continue;
            throw_errno("cannot write the download", "fd " + std::to_string(fd));
        }
        p += k;
        n -= static_cast<size_t>(k);
        off += static_cast<unsigned long long>(k);
    }
}

class FdRuns final : public RunSink {
public:
    explicit FdRuns(int fd) : fd_(fd) {}
    void run(unsigned long long off, const char* p, size_t n) override { pwrite_all(fd_, p, n, off); }
    void size(unsigned long long n) override {
        if (::ftruncate(fd_, static_cast<off_t>(n)) != 0) throw_errno("cannot set the size of the download", "fd");
    }
    void restart() override {
        if (::ftruncate(fd_, 0) != 0) throw_errno("cannot truncate the download", "fd");
    }

private:
    int fd_;
};

}  // namespace

SparseWriter::SparseWriter(int fd) : own_(std::make_unique<FdRuns>(fd)), out_(*own_) { buf_.reserve(kBuffer); }
SparseWriter::SparseWriter(RunSink& out) : out_(out) { buf_.reserve(kBuffer); }
SparseWriter::~SparseWriter() = default;

void SparseWriter::write(const char* p, size_t n) {
    while (n > 0) {
        size_t k = std::min(n, kBuffer - buf_.size());
        buf_.append(p, k);
        p += k;
        n -= k;
        size_ += k;
        if (buf_.size() == kBuffer) flush();
    }
}

void SparseWriter::flush() {
    // Runs of non-zero blocks are written with one pwrite each; zero blocks are skipped.
    size_t i = 0, len = buf_.size();
    while (i < len) {
        size_t b = std::min(kBlock, len - i);
        if (all_zero(buf_.data() + i, b)) {
            i += b;
            continue;
        }
        size_t start = i;
        while (i < len) {
            b = std::min(kBlock, len - i);
            if (all_zero(buf_.data() + i, b)) break;
            i += b;
        }
        out_.run(base_ + start, buf_.data() + start, i - start);
    }
    base_ += len;
    buf_.clear();
}

void SparseWriter::finish() {
    flush();
    out_.size(size_);
}

void SparseWriter::reset() {
    buf_.clear();
    base_ = size_ = 0;
    out_.restart();
}

}  // namespace onestor::download
