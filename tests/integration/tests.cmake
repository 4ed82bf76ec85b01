# Integration tests on the embedded broker (librdkafka's mock cluster) with fault injection:
# tests/integration/test_<name>.c -> ctest integration.<name>.
find_package(Threads REQUIRED)
file(GLOB NB_INTEGRATION_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_*.c)
foreach(src ${NB_INTEGRATION_TESTS})
    get_filename_component(name ${src} NAME_WE)
    string(REGEX REPLACE "^test_" "" short ${name})
    add_executable(it_${short} ${src})
    target_link_libraries(it_${short} PRIVATE nbcore PkgConfig::CMOCKA Threads::Threads)
    target_include_directories(it_${short} PRIVATE ${CMAKE_SOURCE_DIR}/src)
    target_compile_definitions(it_${short} PRIVATE NB_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
    add_test(NAME integration.${short} COMMAND it_${short})
    set_tests_properties(integration.${short} PROPERTIES LABELS integration TIMEOUT 600
                         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
endforeach()

# The clinical scenario suite (tests/scenarios/): integration.scenarios runs it through the
# daemon on the embedded broker; cli.scenarios_replay through `notbrought replay`, and checks
# that every rule of the default policy is covered.
target_sources(it_scenarios PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/integration/scenario.c
                                    ${CMAKE_CURRENT_SOURCE_DIR}/integration/scenario_check.c
                                    ${CMAKE_CURRENT_SOURCE_DIR}/integration/scenario_equal.c)
add_test(NAME cli.scenarios_replay COMMAND it_scenarios --replay)
set_tests_properties(cli.scenarios_replay PROPERTIES LABELS unit TIMEOUT 300
                     WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})

# The MLLP adapter answers every third-party HL7 v2 sample (realdata/SOURCES.md, read in place)
# with an ACK that carries its control id; skipped (77) where the samples are not there.
add_test(NAME integration.mllp.realdata COMMAND it_mllp --realdata ${NB_REALDATA_DIR}/hl7v2)
set_tests_properties(integration.mllp.realdata PROPERTIES LABELS integration TIMEOUT 300
                     SKIP_RETURN_CODE 77 WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
