"""Task YAML -> validated Task -> Plan."""
