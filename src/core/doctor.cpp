#include "onestor/cli.hpp"
namespace onestor::cli {
int doctor(const std::vector<std::string>&, std::string& out) { out = "not yet\n"; return 1; }
}
