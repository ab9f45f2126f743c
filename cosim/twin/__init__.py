"""The live twin: a system coupled to a plant over OPC UA, paced to the wall clock."""
