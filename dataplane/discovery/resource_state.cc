#include "dataplane/discovery/resource_state.h"

#include <set>
#include <utility>

namespace sluice::discovery {
namespace {

using sluice::v1::ResourceType;

std::string Describe(ResourceType type, const std::string& name) {
  return sluice::v1::ResourceType_Name(type) + " \"" + name + "\"";
}

}  // namespace

sluice::Result<ResourceState> ResourceState::Merge(const sluice::v1::StreamResponse& response) const {
  ResourceState next;
  std::set<std::pair<ResourceType, std::string>> touched;

  if (!response.full_state()) {
    next = *this;
    // Removals are relative to the state the controller believes we hold
    // (our last ACK); anything else means the two ends disagree, and
    // applying the rest would leave us on a state nobody computed.
    for (const sluice::v1::ResourceRef& ref : response.removed()) {
      if (!touched.emplace(ref.type(), ref.name()).second) {
        return sluice::Status::Error("removed " + Describe(ref.type(), ref.name()) + " twice");
      }
      bool erased = false;
      switch (ref.type()) {
        case sluice::v1::VIRTUAL_HOST: erased = next.sources_.virtual_hosts.Erase(ref.name()); break;
        case sluice::v1::CLUSTER: erased = next.sources_.clusters.Erase(ref.name()); break;
        case sluice::v1::CERTIFICATE: erased = next.sources_.certificates.Erase(ref.name()); break;
        default:
          return sluice::Status::Error("removed ref \"" + ref.name() + "\" has no resource type");
      }
      if (!erased) {
        return sluice::Status::Error("cannot remove unknown " + Describe(ref.type(), ref.name()));
      }
    }
  }

  for (const sluice::v1::Resource& resource : response.resources()) {
    ResourceType type;
    const std::string* name;
    switch (resource.kind_case()) {
      case sluice::v1::Resource::kVirtualHost:
        type = sluice::v1::VIRTUAL_HOST;
        name = &resource.virtual_host().name();
        break;
      case sluice::v1::Resource::kCluster:
        type = sluice::v1::CLUSTER;
        name = &resource.cluster().name();
        break;
      case sluice::v1::Resource::kCertificate:
        type = sluice::v1::CERTIFICATE;
        name = &resource.certificate().name();
        break;
      default:
        return sluice::Status::Error("resource without a kind (newer controller?)");
    }
    if (!touched.emplace(type, *name).second) {
      return sluice::Status::Error(Describe(type, *name) + " occurs twice in one response");
    }
    switch (type) {
      case sluice::v1::VIRTUAL_HOST:
        next.sources_.virtual_hosts.Set(*name, std::make_shared<const sluice::v1::VirtualHost>(resource.virtual_host()));
        break;
      case sluice::v1::CLUSTER:
        next.sources_.clusters.Set(*name, std::make_shared<const sluice::v1::Cluster>(resource.cluster()));
        break;
      default:
        next.sources_.certificates.Set(*name, std::make_shared<const sluice::v1::Certificate>(resource.certificate()));
        break;
    }
  }
  return next;
}

std::shared_ptr<sluice::v1::Snapshot> ResourceState::ToSnapshot() const {
  return std::make_shared<sluice::v1::Snapshot>(sources_.ToSnapshot());
}

}  // namespace sluice::discovery
