# Tests that run vmm directly on this machine's /dev/kvm with the freestanding payload
# (they work on PVM hosts as well as VMX/SVM ones), plus the error cases.
set(DIRECT_RUN ${CMAKE_CURRENT_SOURCE_DIR}/direct/run.sh)
set(PAYLOAD_ELF ${PROJECT_BINARY_DIR}/firmware/payload.elf)
# Without a usable /dev/kvm here they run in the nested test host (kvm_case(), tests/CMakeLists.txt).
# pty-run: a command on a pseudo-terminal, keys typed into it (the Ctrl-A x case).
add_executable(pty-run direct/pty-run.c)
set_target_properties(pty-run PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests/integration)
kvm_program($<TARGET_FILE:pty-run>)
# seccomp-probe.so: LD_PRELOADed by direct.seccomp (a forbidden call on a vCPU thread of the real vmm).
add_library(seccomp-probe MODULE direct/seccomp-probe.c)
set_target_properties(seccomp-probe PROPERTIES PREFIX "" RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests/integration
                      LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests/integration)
target_link_libraries(seccomp-probe PRIVATE ${CMAKE_DL_LIBS})
kvm_program($<TARGET_FILE:seccomp-probe>)
foreach(case hello smp reboot reset-reg triple-fault timeout console-input ctrl-a-x console-reader-gone console-full-disk console-hangup rtc cpuid unclaimed-port debug-exit boot-timer hostile hostile-snapshot-requests errors seccomp)
  kvm_case(direct.${case} ${DIRECT_RUN} $<TARGET_FILE:vmm> ${PAYLOAD_ELF} ${case})
  set_tests_properties(direct.${case} PROPERTIES TIMEOUT 300 LABELS direct)
endforeach()
kvm_program(${PAYLOAD_ELF})
# --help needs no KVM.
add_test(NAME direct.help COMMAND ${DIRECT_RUN} $<TARGET_FILE:vmm> ${PAYLOAD_ELF} help)
set_tests_properties(direct.help PROPERTIES TIMEOUT 60 LABELS direct)
# Neither does the order of the set-up errors (a bad kernel path is reported before a missing /dev/kvm).
add_test(NAME direct.errors-order COMMAND ${DIRECT_RUN} $<TARGET_FILE:vmm> ${PAYLOAD_ELF} errors-order)
set_tests_properties(direct.errors-order PROPERTIES TIMEOUT 60 LABELS direct)
add_test(NAME direct.stock-kernel-pvm
         COMMAND ${DIRECT_RUN} $<TARGET_FILE:vmm> ${PAYLOAD_ELF} stock-kernel-pvm ${CMAKE_BINARY_DIR}/guest)
set_tests_properties(direct.stock-kernel-pvm PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS direct
                     FIXTURES_REQUIRED linux_guest)
