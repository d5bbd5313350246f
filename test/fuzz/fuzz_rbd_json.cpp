// What `rbd info/snap ls/ls/children --format json` and `ceph df --format json` print, as
// src/tools/rbd.cpp reads it (run on a bridge: what a broken or different Ceph prints must be
// an error, never a crash). Only DriverError may escape.
#include "onestor/error.hpp"
#include "onestor/rbd.hpp"

#include <cstdint>
#include <string>

using namespace onestor;

template <class F>
static void guarded(F f) {
    try {
        f();
    } catch (const DriverError&) {}
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string in(reinterpret_cast<const char*>(data), size);
    guarded([&] { (void)rbd::parse_info(in); });
    guarded([&] { (void)rbd::parse_snaps(in); });
    guarded([&] { (void)rbd::parse_ls(in); });
    guarded([&] { (void)rbd::parse_children(in); });
    guarded([&] { (void)rbd::parse_df(in, "one"); });
    guarded([&] { (void)rbd::parse_spec(in); });
    return 0;
}
