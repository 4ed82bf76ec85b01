# End-to-end tests on a real Apache Kafka broker (KRaft), started by each test via ops/kafka.
set(NB_E2E_ENV "NB_PYTHON=${NB_PYTHON}" "NB_BIN=$<TARGET_FILE:notbrought>"
    "NB_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
add_test(NAME e2e.kafka_smoke COMMAND bash ${CMAKE_SOURCE_DIR}/tests/e2e/smoke_kafka.sh)
set_tests_properties(e2e.kafka_smoke PROPERTIES LABELS e2e RUN_SERIAL TRUE TIMEOUT 300
                     ENVIRONMENT "${NB_E2E_ENV}")
