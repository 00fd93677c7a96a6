import { BrowserRouter, Route, Routes } from "react-router-dom";
import { CartProvider } from "./hooks/useCart";
import { HomePage } from "./pages/home";
import { ProductPage } from "./pages/product";
import { CartPage } from "./pages/cart";
import { CheckoutPage } from "./pages/checkout";
import { OrderStatusPage } from "./pages/order-status";

export function App() {
  return (
    <CartProvider>
      <BrowserRouter>
        <Routes>
          <Route path="/" element={<HomePage />} />
          <Route path="/products/:slug" element={<ProductPage />} />
          <Route path="/cart" element={<CartPage />} />
          <Route path="/checkout" element={<CheckoutPage />} />
          <Route path="/orders/:orderId" element={<OrderStatusPage />} />
        </Routes>
      </BrowserRouter>
    </CartProvider>
  );
}
