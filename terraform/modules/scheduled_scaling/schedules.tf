# EventBridge Scheduler expressions (cron(min hour dom month dow year), in the profile's own
# timezone) for every window edge. Only var.profiles in here: the tests evaluate it with
# `terraform console`.

locals {
  all_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
  next_day = { mon = "tue", tue = "wed", wed = "thu", thu = "fri", fri = "sat", sat = "sun", sun = "mon" }
  # crontab day-of-week numbers (0 and 7 are Sunday) as Scheduler day names.
  cron_dow = { "0" = "SUN", "1" = "MON", "2" = "TUE", "3" = "WED", "4" = "THU", "5" = "FRI", "6" = "SAT", "7" = "SUN" }

  windows = {
    for p in var.profiles : p.name => {
      timezone  = p.timezone
      days      = p.days == null ? local.all_days : p.days
      start_h   = tonumber(split(":", p.start)[0])
      start_m   = tonumber(split(":", p.start)[1])
      end_h     = tonumber(split(":", p.end)[0])
      end_m     = tonumber(split(":", p.end)[1])
      overnight = tonumber(replace(p.end, ":", "")) <= tonumber(replace(p.start, ":", ""))
    } if p.start != null
  }

  # A crontab profile's start is expressible when day-of-month or day-of-week is `*` (crontab
  # ORs two restricted fields; Scheduler cannot) and day-of-week has no step. Its end (start +
  # duration) is no cron expression: the safety schedule applies it within 5 minutes.
  crons = {
    for p in var.profiles : p.name => {
      timezone = p.timezone
      fields   = split(" ", p.cron)
    } if p.cron != null
  }
  cron_starts = {
    for name, c in local.crons : name => {
      timezone = c.timezone
      dom      = c.fields[4] == "*" ? c.fields[2] : "?"
      dow = c.fields[4] == "*" ? "?" : join(",", [
        for item in split(",", c.fields[4]) : join("-", [
          for part in split("-", item) : lookup(local.cron_dow, part, upper(part))
        ])
      ])
      minute = c.fields[0]
      hour   = c.fields[1]
      month  = c.fields[3]
    } if(c.fields[2] == "*" || c.fields[4] == "*") && !strcontains(c.fields[4], "/")
  }

  edges = merge(
    {
      for name, w in local.windows : "${name}-start" => {
        profile    = name
        edge       = "start"
        timezone   = w.timezone
        expression = "cron(${w.start_m} ${w.start_h} ? * ${join(",", [for d in w.days : upper(d)])} *)"
      }
    },
    {
      for name, w in local.windows : "${name}-end" => {
        profile  = name
        edge     = "end"
        timezone = w.timezone
        expression = "cron(${w.end_m} ${w.end_h} ? * ${join(",", [
          for d in w.days : upper(w.overnight ? local.next_day[d] : d)
        ])} *)"
      }
    },
    {
      for name, c in local.cron_starts : "${name}-start" => {
        profile    = name
        edge       = "start"
        timezone   = c.timezone
        expression = "cron(${c.minute} ${c.hour} ${c.dom} ${c.month} ${c.dow} *)"
      }
    },
  )
}
