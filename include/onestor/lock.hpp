// Serialises actions that could race on the same files (oned runs up to 15 at once): an
// flock(2) on <LOCK_DIR>/<name>, waited for up to LOCK_TIMEOUT seconds. A timeout is a
// clear error naming the lock. Released when the object dies (or the process does).
#pragma once
#include <string>

namespace onestor {

class Lock {
public:
    explicit Lock(const std::string& name, int timeout_s = -1);  // -1: LOCK_TIMEOUT
    ~Lock();
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

private:
    int fd_ = -1;
};

}  // namespace onestor
