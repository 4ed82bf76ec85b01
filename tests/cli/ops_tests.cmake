# Operability tests (issue 7). Included by tests/CMakeLists.txt:
#   include(${CMAKE_CURRENT_SOURCE_DIR}/cli/ops_tests.cmake)
# The metrics registry, the HTTP endpoints and the configuration reference are cmocka tests
# in tests/unit/test_ops.c (unit.ops); these two need the binary and python3.

# Deployment files and docs: YAML/JSON parse, the Dockerfile's packages match
# ops/lib/common.sh, manifests are consistent, alerts and dashboard name real metrics, the
# Kubernetes configuration passes --check-config, docs/cli.md covers every option.
add_test(NAME cli.deploy_files
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/deploy_files.sh ${CMAKE_SOURCE_DIR}
                 $<TARGET_FILE:notbrought>)
set_tests_properties(cli.deploy_files PROPERTIES LABELS unit TIMEOUT 120)

# No personal data in any log line of generate, decode, broker, produce, run (debug) and
# consume over sample data.
add_test(NAME cli.log_privacy
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/log_privacy.sh $<TARGET_FILE:notbrought>
                 ${CMAKE_SOURCE_DIR} 10)
set_tests_properties(cli.log_privacy PROPERTIES LABELS integration TIMEOUT 180)

# SIGHUP: an invalid policy is refused (file:line:column logged), the old one stays; a valid
# one is taken; SIGTERM exits 0.
add_test(NAME cli.policy_reload
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/reload.sh $<TARGET_FILE:notbrought>
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(cli.policy_reload PROPERTIES LABELS integration TIMEOUT 180)

# /metrics counters move as events flow; /healthz and /readyz answer (embedded broker).
add_test(NAME cli.metrics_flow
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/metrics_flow.sh $<TARGET_FILE:notbrought>
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(cli.metrics_flow PROPERTIES LABELS integration TIMEOUT 180)

# SIGTERM ends the daemon within processing.shutdown_timeout_ms with Kafka unreachable and
# with the broker paused; a later run loses nothing (issue 18).
add_test(NAME cli.shutdown
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/shutdown.sh $<TARGET_FILE:notbrought>
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(cli.shutdown PROPERTIES LABELS integration TIMEOUT 300)

# SIGTERM, SIGINT and SIGHUP can reach only the main thread of run and broker: every other
# thread blocks them (/proc/PID/task/*/status); SIGHUP reloads, SIGTERM stops both.
add_test(NAME cli.signals
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/signals.sh $<TARGET_FILE:notbrought>
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(cli.signals PROPERTIES LABELS integration TIMEOUT 180)

# Configuration that loses data or loops (an output on an input topic, a key given twice, a
# misspelt NB_ variable, a missing CA file) is refused by 'run --check-config' and by 'run'.
add_test(NAME cli.config_refused
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/config_refused.sh $<TARGET_FILE:notbrought>
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(cli.config_refused PROPERTIES LABELS unit TIMEOUT 120)

# A backlog drained without raise-then-withdraw of absence notifications, against a control run
# judged at the clock (issue 19).
add_test(NAME cli.backlog
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/backlog.sh $<TARGET_FILE:notbrought>
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(cli.backlog PROPERTIES LABELS integration TIMEOUT 300)

# Upgrades keep what is open (issue 20): this build restores the state, topics and
# notifications the code at 3dddfa0 left (tests/data/upgrade/3dddfa0) and neither re-raises
# nor withdraws them, with the old policy and with the shipped one; a control without the state
# re-raises them.
add_test(NAME cli.upgrade
         COMMAND ${CMAKE_COMMAND} -E env NB_PYTHON=${NB_PYTHON}
                 bash ${CMAKE_CURRENT_LIST_DIR}/upgrade.sh $<TARGET_FILE:notbrought>
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(cli.upgrade PROPERTIES LABELS integration TIMEOUT 400)

# The HL7 v2 adapter from the command line: MLLP in, AA after Kafka, AE and a dead letter for a
# refused message, the shipped GP practice mapping (issue 22).
add_test(NAME cli.ingest_mllp
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/ingest_mllp.sh $<TARGET_FILE:notbrought>
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(cli.ingest_mllp PROPERTIES LABELS integration TIMEOUT 180)

# The FHIR R4 adapter from the command line: POST over HTTP, 201 after Kafka, 422 with the
# OperationOutcome's path and a dead letter, a batch Bundle with one bad entry (issue 22).
add_test(NAME cli.ingest_fhir
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/ingest_fhir.sh $<TARGET_FILE:notbrought>
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(cli.ingest_fhir PROPERTIES LABELS integration TIMEOUT 180)

# A CSV extract from the command line (issue 22): the Kaggle sample (realdata, read in place)
# published, a rerun that publishes nothing, and a large generated extract killed mid-file and
# resumed from its state: nothing lost, nothing with a second event id.
add_test(NAME cli.ingest_csv
         COMMAND ${CMAKE_COMMAND} -E env NB_REALDATA_DIR=${NB_REALDATA_DIR}
                 bash ${CMAKE_CURRENT_LIST_DIR}/ingest_csv.sh $<TARGET_FILE:notbrought>
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(cli.ingest_csv PROPERTIES LABELS integration TIMEOUT 400)

# ops/demo with this build's binary (issue 22): an HL7 v2 message and a FHIR Appointment become
# notifications beside the synthetic events.
add_test(NAME cli.demo
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/demo.sh $<TARGET_FILE:notbrought> ${CMAKE_SOURCE_DIR})
set_tests_properties(cli.demo PROPERTIES LABELS integration TIMEOUT 300)

# The inbox's dispatcher from the command line (issue 23, docs/inbox.md §4): webhook and email
# receivers (Python's standard library), the daemon's notifications routed to them by a test
# overlay, retries on 500, a refusal on 400, kill -9 and a restart (every notification
# delivered at least once, none committed before its delivery; nothing resent once committed),
# signatures verified, HTTPS verified against dispatch.ca_file, no NHS number sent or logged.
add_test(NAME cli.dispatch
         COMMAND ${CMAKE_COMMAND} -E env NB_PYTHON=${NB_PYTHON}
                 bash ${CMAKE_CURRENT_LIST_DIR}/dispatch.sh $<TARGET_FILE:notbrought>
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(cli.dispatch PROPERTIES LABELS integration TIMEOUT 300)

# notbrought report over what the daemon wrote agrees with its /metrics where both count the
# same thing; CSV and HTML written (embedded broker).
add_test(NAME cli.report_metrics
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/report_metrics.sh $<TARGET_FILE:notbrought>
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(cli.report_metrics PROPERTIES LABELS integration TIMEOUT 180)
