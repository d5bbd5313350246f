// Helpers of the unit tests that work on real files: a scratch directory removed at the end
// of the test, and a file's whole content.
#pragma once
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <string>

namespace scratch {

struct Dir {
    std::filesystem::path p =
        std::filesystem::temp_directory_path() / ("onestor-unit-" + std::to_string(getpid()) + "-" + std::to_string(rand()));
    Dir() { std::filesystem::create_directories(p); }
    ~Dir() { std::filesystem::remove_all(p); }
    std::string operator/(const std::string& n) const { return (p / n).string(); }
};

inline std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

}  // namespace scratch
