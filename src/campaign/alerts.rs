//! Urgent-action alerts: drafts, previews, test copies, sending once, cancelling.
