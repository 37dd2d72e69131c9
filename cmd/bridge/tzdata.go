package main

// The zone database is compiled in: the container image is FROM scratch and has no
// /usr/share/zoneinfo, and schedules and daily limits run in local time (TZ).
import _ "time/tzdata"
