# Cross-implementation tests with fastavro (an independent Avro implementation).
set(NB_PYTHON "python3" CACHE STRING "Python with the test peers of tests/requirements.txt")
set(NB_INTEROP ${CMAKE_SOURCE_DIR}/tests/interop/avro_interop.py)
add_test(NAME interop.ours_read_by_fastavro
         COMMAND ${NB_PYTHON} ${NB_INTEROP} check-ours --notbrought $<TARGET_FILE:notbrought>)
add_test(NAME interop.fastavro_read_by_ours
         COMMAND ${NB_PYTHON} ${NB_INTEROP} check-theirs --notbrought $<TARGET_FILE:notbrought>)
add_test(NAME interop.vectors_up_to_date
         COMMAND ${NB_PYTHON} ${NB_INTEROP} check-vectors
                 --dir ${CMAKE_SOURCE_DIR}/tests/interop/vectors)
# Text at the door (issue 18): fine text from fastavro is read as fastavro reads it; text no
# field has a use for is refused as text_invalid, naming the field.
add_test(NAME interop.text_at_the_door
         COMMAND ${NB_PYTHON} ${NB_INTEROP} check-text --notbrought $<TARGET_FILE:notbrought>)
set_tests_properties(interop.ours_read_by_fastavro interop.fastavro_read_by_ours
                     interop.vectors_up_to_date interop.text_at_the_door PROPERTIES LABELS interop)

# The notifications the daemon publishes are read by fastavro as by notbrought (Notification
# version 2), and read right as text (titles, words, local times, ages, quotable evidence ids):
# issue 20, item 7. Embedded broker.
add_test(NAME interop.notifications_published
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/notifications.sh $<TARGET_FILE:notbrought>
                 ${CMAKE_SOURCE_DIR} ${NB_PYTHON})
set_tests_properties(interop.notifications_published PROPERTIES LABELS integration TIMEOUT 300)
