// fs datastores that name BRIDGE_LIST hosts (issue 13): their images live on those hosts,
// not on the front-end, and every DS action but stat (which reads the image's PATH, a
// front-end file or URL) runs on one of them, done there by that host's onestor (the
// hidden `onestor bridge ACTION ID RELEASE`) with the action data on its stdin. Which host:
// the image id modulo their number, as upstream's get_destination_host (monitor: the
// datastore's id, where upstream takes any). One that does not answer is passed over for
// the next, in order. The host's onestor is run directly (one command per action); where
// it has none, it is installed first when REMOTE_ONESTOR_INSTALL allows.
//
// cp streams the image from the front-end after the action data, as it is served (a local
// file with its holes skipped, a download, an ssh source) in records that end with an end
// mark; the bridge host runs the pipeline on them (checksums, decompression, the limit of
// its own free space, the sparse writer) and commits only after the end mark: a stream cut
// short leaves nothing there. A result comes back as plain lines and is returned typed, so
// the protocol module prints it as any other.
#pragma once
#include "image_source.hpp"
#include "onestor/backend.hpp"

#include <functional>
#include <string>
#include <vector>

namespace onestor::backends::bridge {

// The datastore names bridge hosts, and this process is not one doing the work for the
// front-end on such a host (then the action runs here, as on a datastore without them).
bool applies(const DsDump& d);
// This process is `onestor bridge` on a bridge host.
bool serving();

// The action on a bridge host; for cp, `bytes` sends the image.
DsResult image(const DsDump& d, long id, const std::string& action,
               const std::function<void(image_source::RawSink&)>& bytes = {});
void image_void(const DsDump& d, long id, const std::string& action);
MonitorResult monitor(const DsDump& d);
// IMPORT_SOURCE becomes ssh://HOST:SOURCE, as upstream: the image is on that host.
ExportInfo export_image(const DsDump& d);

// On the bridge host, in cp: fills out_fd from the records on stdin, committed by the caller
// only when this returned (the end mark arrived and the pipeline passed).
void receive_image(const DsDump& d, int out_fd);

}  // namespace onestor::backends::bridge
