"""Reference profiles, drift statistics, reports and alerts."""
