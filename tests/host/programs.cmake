# The programs the Linux cases run next to vmm (VMM_EXTRA_PROGRAMS: build-host.sh copies them into the
# test host's /vmm/). Included by tests/CMakeLists.txt and by the cross build (CMakeLists.txt), which
# makes them for the arm64 test host too (tests/host/arm64-build.sh).

# Runs inside the nested test host beside vmm (tests/host/init starts it): one idle VM that keeps
# KVM's static keys on, so the test host does not patch its scheduler as VMs come and go.
add_executable(kvm-keeper ${PROJECT_SOURCE_DIR}/tests/host/kvm-keeper.c)
# The far end of --net stream=PATH in the Linux case net-stream: bridges the socket to a tap.
add_executable(net-stream-peer ${PROJECT_SOURCE_DIR}/tests/host/net-stream-peer.c)
# vmm-vsock: both ends of the Linux case vsock (statically in the guest, built by build-assets.sh; here
# the host side, over vmm's unix sockets).
add_executable(vmm-vsock ${PROJECT_SOURCE_DIR}/tests/guest/vsock.c)
# The DNS server the Linux case user-net points the test host's resolver at.
add_executable(dns-peer ${PROJECT_SOURCE_DIR}/tests/host/dns-peer.c)
# The vhost-user proxy between vmm and virtiofsd in the Linux case virtio-fs with 2 request queues.
add_executable(vhost-user-mq-proxy ${PROJECT_SOURCE_DIR}/tests/host/vhost-user-mq-proxy.c)
