// The starter kit's back-office -> Commerce calls, shared by the tests of the
// bundled Lua app (integration.test.mjs) and of the kit's own JavaScript
// (starter-kit.test.mjs): both must send exactly these.

// What the starter kit's handler sends to Commerce for each back-office sample
// (actions/*/external/*/transformer.js and commerce-*-api-client.js).
export const TO_COMMERCE = {
  'be-observer.catalog_product_create': (s) => ['POST', 'products', {
    product: { sku: s.sku, name: s.name, price: s.price, attribute_set_id: 4, custom_attributes: [{ attribute_code: 'description', value: s.description }] },
  }],
  'be-observer.catalog_product_update': (s) => ['PUT', `products/${s.sku}`, {
    product: { sku: s.sku, name: s.name, price: s.price, attribute_set_id: 4, custom_attributes: [{ attribute_code: 'description', value: s.description }] },
  }],
  'be-observer.catalog_product_delete': (s) => ['DELETE', `products/${s.sku}`, null],
  'be-observer.customer_create': (s) => ['POST', 'customers', { customer: { email: s.email, firstname: s.name, lastname: s.lastname } }],
  'be-observer.customer_update': (s) => ['PUT', `customers/${s.id}`, { customer: { id: s.id, firstname: s.name, lastname: s.lastname, email: s.email } }],
  'be-observer.customer_delete': (s) => ['DELETE', `customers/${s.id}`, null],
  'be-observer.customer_group_create': (s) => ['POST', 'customerGroups', { group: { code: s.name, tax_class_id: s.taxClassId } }],
  'be-observer.customer_group_update': (s) => ['PUT', `customerGroups/${s.id}`, { group: { id: s.id, code: s.name, tax_class_id: s.taxClassId } }],
  'be-observer.customer_group_delete': (s) => ['DELETE', `customerGroups/${s.id}`, null],
  'be-observer.sales_order_status_update': (s) => ['POST', `orders/${s.id}/comments`, {
    statusHistory: { comment: `Order status changed to ${s.status}`, is_customer_notified: s.notifyCustomer ? 1 : 0, is_visible_on_front: 1 },
  }],
  'be-observer.sales_order_shipment_create': (s) => ['POST', `order/${s.orderId}/ship`, {
    items: s.items.map((i) => ({ order_item_id: i.orderItemId, qty: i.qty })),
    tracks: s.tracks.map((t) => ({ track_number: t.trackNumber, title: t.title, carrier_code: t.carrierCode })),
    comment: { comment: s.comment.comment, is_visible_on_front: s.comment.visibleOnFront ? 1 : 0 },
    extension_attributes: { source_code: s.stockSourceCode },
  }],
  'be-observer.sales_order_shipment_update': (s) => ['POST', 'shipment', {
    entity: {
      entity_id: s.id,
      order_id: s.orderId,
      items: s.items.map((i) => ({ entity_id: i.entityId, order_item_id: i.orderItemId, qty: i.qty })),
      tracks: s.tracks.map((t) => ({ entity_id: t.entityId, order_id: s.orderId, track_number: t.trackNumber, title: t.title, carrier_code: t.carrierCode })),
      comments: s.comments.map((c) => ({ entity_id: c.entityId, is_customer_notified: c.notifyCustomer ? 1 : 0, comment: c.comment, is_visible_on_front: c.visibleOnFront ? 1 : 0 })),
      extension_attributes: { source_code: s.stockSourceCode },
    },
  }],
  'be-observer.catalog_stock_update': (s) => ['POST', 'inventory/source-items', {
    sourceItems: s.map((i) => ({ sku: i.sku, source_code: i.source, quantity: i.quantity, status: i.outOfStock ? 0 : 1 })),
  }],
};

// The entities the samples refer to, as a Commerce that has them.
export const SEED = {
  customers: [{ id: 15, email: 'jane.doe@fakedomain.com', firstname: 'Jane', lastname: 'Doe' }],
  groups: [{ id: 19, code: 'Backoffice Group', tax_class_id: 3 }],
  orders: [{ id: 1, status: 'processing' }, { id: 8, status: 'processing' }],
  shipments: [{ entity_id: 33, order_id: 8 }],
};


// The handler the starter kit's Commerce consumers (actions/*/commerce/
// consumer/index.js) route each Commerce sample to: saves by comparing
// created_at with updated_at, group saves always to group-updated. The kit's
// back-office senders of these handlers are stubs that call nothing.
const byTimestamps = (pkg) => (v) => `${pkg}/${Date.parse(v.created_at) === Date.parse(v.updated_at) ? 'created' : 'updated'}`;
export const COMMERCE_HANDLER = {
  'com.adobe.commerce.observer.catalog_product_save_commit_after': byTimestamps('product-commerce'),
  'com.adobe.commerce.observer.catalog_product_delete_commit_after': () => 'product-commerce/deleted',
  'com.adobe.commerce.observer.customer_save_commit_after': byTimestamps('customer-commerce'),
  'com.adobe.commerce.observer.customer_delete_commit_after': () => 'customer-commerce/deleted',
  'com.adobe.commerce.observer.customer_group_save_commit_after': () => 'customer-commerce/group-updated',
  'com.adobe.commerce.observer.customer_group_delete_commit_after': () => 'customer-commerce/group-deleted',
  'com.adobe.commerce.observer.sales_order_save_commit_after': byTimestamps('order-commerce'),
  'com.adobe.commerce.observer.cataloginventory_stock_item_save_commit_after': () => 'stock-commerce/updated',
};

// Where the kit's code at the 2024 revision (../shared/starter-kit-2024, the
// layout the seed describes) differs from the later revision that the data
// set's samples and TO_COMMERCE follow: its shipment-created handler
// validates `comments` (an array) where the data set's sample has `comment`
// (an object), so it rejects that sample (400, its own message) before
// calling Commerce, on the hosted original as anywhere; a sample of its own
// shape it sends as POST V1/shipment {entity: ...}.
export const KIT_2024 = {
  'be-observer.sales_order_shipment_create': {
    rejects: /^Data provided does not validate with the schema: /,
    sample: (s) => ({
      orderId: s.orderId,
      items: s.items,
      tracks: s.tracks,
      comments: [{ notifyCustomer: false, comment: s.comment.comment, visibleOnFront: s.comment.visibleOnFront }],
      stockSourceCode: s.stockSourceCode,
    }),
    call: (s) => ['POST', 'shipment', {
      entity: {
        order_id: s.orderId,
        items: s.items.map((i) => ({ order_item_id: i.orderItemId, qty: i.qty })),
        tracks: s.tracks.map((t) => ({ order_id: s.orderId, track_number: t.trackNumber, title: t.title, carrier_code: t.carrierCode })),
        comments: s.comments.map((c) => ({ is_customer_notified: c.notifyCustomer ? 1 : 0, comment: c.comment, is_visible_on_front: c.visibleOnFront ? 1 : 0 })),
        extension_attributes: { source_code: s.stockSourceCode },
      },
    }],
  },
};
