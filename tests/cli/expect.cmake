# Runs a command and checks its exit status and output (stdout and stderr together).
#   cmake -DCMD=prog -DARGS="a|b|c" -DEXPECT_RC=1 -DEXPECT_OUT=<regex> [-DWORKDIR=dir] -P expect.cmake
string(REPLACE "|" ";" args "${ARGS}")
if(NOT WORKDIR)
    set(WORKDIR .)
endif()
execute_process(COMMAND ${CMD} ${args} WORKING_DIRECTORY ${WORKDIR}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(all "${out}${err}")
if(NOT "${rc}" STREQUAL "${EXPECT_RC}")
    message(FATAL_ERROR "exit status ${rc}, expected ${EXPECT_RC}; output:\n${all}")
endif()
if(DEFINED EXPECT_OUT AND NOT all MATCHES "${EXPECT_OUT}")
    message(FATAL_ERROR "output does not match '${EXPECT_OUT}':\n${all}")
endif()
message(STATUS "ok (exit ${rc})")
