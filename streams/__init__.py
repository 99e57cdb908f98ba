"""The Faust shell: agents, topics and tables that wire the pure core to Kafka."""
