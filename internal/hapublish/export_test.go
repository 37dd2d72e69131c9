package hapublish

// RepublishBatch is republishBatch, for the external tests.
const RepublishBatch = republishBatch
