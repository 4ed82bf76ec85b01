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
