//! The HTTP side of the connector.
